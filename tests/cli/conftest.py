"""Shared fixtures for the CLI suites: the built binary, a test PKI, input
directories, and a runner that checks rota's error conventions."""
import os
import pathlib
import random
import subprocess

import pytest

SRC = pathlib.Path(__file__).resolve().parents[2]


def _no_skips_allowed(report):
    """Under `make test` (ROTA_REQUIRE_ALL_TOOLS=1) every tool a test needs
    has been installed, so a skip would only hide a broken setup: fail it."""
    if os.environ.get("ROTA_REQUIRE_ALL_TOOLS") and report.skipped:
        report.outcome = "failed"
        report.longrepr = f"skipped although ROTA_REQUIRE_ALL_TOOLS is set: {report.longrepr}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _no_skips_allowed(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    _no_skips_allowed(outcome.get_result())


BUILD = pathlib.Path(os.environ.get("ROTA_BUILD_DIR", SRC / "build"))
ROTA = BUILD / "rota"


class Result:
    def __init__(self, proc):
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr

    def error_line(self):
        """The one error line rota prints on failure."""
        lines = [l for l in self.stderr.splitlines() if l.startswith("rota: ")]
        assert len(lines) == 1, f"expected one error line, got: {self.stderr!r}"
        return lines[0]


def run(*args, ok=True, env=None, cwd=None):
    proc = subprocess.run([str(ROTA), *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=cwd, timeout=600)
    if ok and proc.returncode != 0:
        raise AssertionError(f"rota {' '.join(map(str, args))} failed:\n{proc.stderr}")
    return Result(proc)


def fails(*args, match, env=None):
    """Runs rota expecting a failure: exit 1 and one error line containing match."""
    r = run(*args, ok=False, env=env)
    assert r.returncode == 1, f"exit {r.returncode}, stderr: {r.stderr}"
    line = r.error_line()
    assert match in line, f"{match!r} not in {line!r}"
    return line


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    subprocess.run(["bash", str(SRC / "tests" / "pki.sh"), str(d)], check=True)
    return d


def signer_args(pki, name="signer"):
    return [f"--cert={pki / (name + '.cert.pem')}", f"--key={pki / (name + '.key.pem')}",
            f"--intermediate={pki / 'intermediate.pem'}"]


def make_input(path, fmt="verity", images=None, extra_manifest="", seed=1):
    """An input directory with a manifest and images of random content."""
    rng = random.Random(seed)
    path.mkdir(parents=True, exist_ok=True)
    images = images or {"rootfs": ("rootfs.ext4", 300 * 1024), "appfs": ("appfs.img", 8192)}
    lines = ["[update]", "compatible=rota-test", "version=2026.11-1", ""]
    if fmt:
        lines += ["[bundle]", f"format={fmt}", ""]
    for slot, (filename, size) in images.items():
        (path / filename).write_bytes(rng.randbytes(size))
        lines += [f"[image.{slot}]", f"filename={filename}", ""]
    (path / "manifest.raucm").write_text("\n".join(lines) + extra_manifest)
    return path


@pytest.fixture
def make_bundle(tmp_path, pki):
    """make_bundle(fmt, name=...) -> path of a freshly built bundle."""
    counter = [0]

    def build(fmt="verity", name=None, images=None, extra_manifest="", args=()):
        counter[0] += 1
        indir = make_input(tmp_path / f"in{counter[0]}", fmt, images, extra_manifest, seed=counter[0])
        out = tmp_path / (name or f"b{counter[0]}.raucb")
        run("bundle", *signer_args(pki), *args, indir, out)
        return out

    return build
