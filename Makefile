# Top-level entry points. `make demo` and `make test` work on a fresh
# Debian 12 machine: they install what is missing, configure, build and run.

BUILD      ?= build
BUILD_SAN  ?= build-sanitize
PYTHON     ?= /usr/bin/python3

.PHONY: all deps build build-sanitize test unit-test cli-test sanitize-test demo bench clean

all: build

deps:
	bash scripts/install-deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(BUILD_SAN)/build.ninja:
	meson setup $(BUILD_SAN) -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug

build-sanitize: deps $(BUILD_SAN)/build.ninja
	ninja -C $(BUILD_SAN)

unit-test: build
	meson test -C $(BUILD) --print-errorlogs

cli-test: build
	ROTA_BUILD_DIR=$(abspath $(BUILD)) $(PYTHON) -m pytest -q tests/cli

sanitize-test: build-sanitize
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 meson test -C $(BUILD_SAN) --print-errorlogs

# Everything the tests need is installed by `deps`: a skipped test would
# hide a broken setup, so the suites turn skips into failures.
test: export ROTA_REQUIRE_ALL_TOOLS = 1
test: unit-test cli-test sanitize-test

demo: build
	ROTA_BUILD_DIR=$(abspath $(BUILD)) bash scripts/demo.sh

bench: build
	ROTA_BUILD_DIR=$(abspath $(BUILD)) bash bench/run.sh

clean:
	rm -rf $(BUILD) $(BUILD_SAN)
