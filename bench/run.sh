#!/bin/bash
# run.sh — builds rota in release mode and runs the benchmarks (bench/bundle.sh,
# then bench/install.sh and bench/adaptive.sh),
# printing the markdown report on stdout. `make bench` calls this with
# ROTA_BUILD_DIR set to the normal build directory.
#
# Figures come from a release build (-Dbuildtype=release): ROTA_BUILD_DIR is
# used when it is one; otherwise build-release/ in the source tree (or
# ROTA_RELEASE_DIR) is configured if missing and built, and used instead.
# Set BENCH_USE_BUILD_DIR=1 to use ROTA_BUILD_DIR whatever its build type.
# Other settings (BENCH_DIR, BENCH_SKIP_1G, ...) are passed on to bundle.sh.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)

buildtype() {
	meson introspect "$1" --buildoptions 2>/dev/null |
		python3 -c 'import json, sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "buildtype"))' \
			2>/dev/null || echo unknown
}

build=""
if [ -n "${ROTA_BUILD_DIR:-}" ] && [ -f "$ROTA_BUILD_DIR/build.ninja" ]; then
	if [ "${BENCH_USE_BUILD_DIR:-0}" = 1 ] || [ "$(buildtype "$ROTA_BUILD_DIR")" = release ]; then
		build=$ROTA_BUILD_DIR
	else
		echo "bench: $ROTA_BUILD_DIR is a '$(buildtype "$ROTA_BUILD_DIR")' build; using a release build for the figures" >&2
	fi
fi
if [ -z "$build" ]; then
	build=${ROTA_RELEASE_DIR:-$src/build-release}
	[ -f "$build/build.ninja" ] || meson setup "$build" "$src" -Dbuildtype=release >&2
fi
ninja -C "$build" rota bench/verity_speed >&2

ROTA_BUILD_DIR=$build bash "$src/bench/bundle.sh"

# Install throughput (issue 3) and adaptive updates (issue 5): both need root
# (loop-mounting for RAUC, nginx). BENCH_SKIP_INSTALL=1 / BENCH_SKIP_ADAPTIVE=1
# leave them out; with BENCH_DIR set they work in subdirectories of it.
if [ "${BENCH_SKIP_INSTALL:-0}" != 1 ]; then
	ROTA_BUILD_DIR=$build BENCH_DIR=${BENCH_DIR:+$BENCH_DIR/install} BENCH_SIZE_MIB=1024 bash "$src/bench/install.sh"
fi
if [ "${BENCH_SKIP_ADAPTIVE:-0}" != 1 ]; then
	ROTA_BUILD_DIR=$build BENCH_DIR=${BENCH_DIR:+$BENCH_DIR/adaptive} BENCH_SIZE_MIB=256 bash "$src/bench/adaptive.sh"
fi
