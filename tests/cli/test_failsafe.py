"""Kill tests: a 256 MiB install into file-backed A/B slots with the real
grub-editenv, killed with SIGKILL at many deterministic points (strace
syscall injection, or a grub-editenv dispatcher that kills its parent).

After every kill the system must be safe:
  * the grubenv primary (first ORDER entry with OK=1, TRY=0) is the booted
    slot A — unless the kill came after set-primary completed, in which case
    B is primary AND B holds the complete image;
  * the central status file parses and `rota status` works;
  * a repeated install succeeds (B primary, B content == image)."""
import hashlib
import json
import os
import random
import re
import shutil
import subprocess

import pytest

from conftest import ROTA, run, signer_args
from system_fixture import System, grub_list, grub_primary, parse_keyfile

IMAGE_SIZE = 256 * 1024 * 1024
SLOT_B_SIZE = 300 * 1024 * 1024
GRUB_EDITENV = shutil.which("grub-editenv")
STRACE = shutil.which("strace")

pytestmark = pytest.mark.skipif(not STRACE or not GRUB_EDITENV, reason="needs strace and grub-editenv")


def make_image(path):
    """256 MiB, distinct in every 64 KiB block, but compressible (bundling is fast)."""
    rng = random.Random(42)
    seeds = [rng.randbytes(4096) for _ in range(8)]
    h = hashlib.sha256()
    with open(path, "wb") as f:
        for i in range(IMAGE_SIZE // 65536):
            blk = bytearray(seeds[i % 8] * 16)
            blk[0:8] = i.to_bytes(8, "little")
            blk[32768:32776] = (i ^ 0xABCDEF).to_bytes(8, "little")
            h.update(blk)
            f.write(blk)
    return h.hexdigest()


@pytest.fixture(scope="session")
def big(tmp_path_factory, pki):
    d = tmp_path_factory.mktemp("big")
    indir = d / "in"
    indir.mkdir()
    digest = make_image(indir / "rootfs.img")
    (indir / "manifest.raucm").write_text("[update]\ncompatible=rota-it\nversion=1.0\n\n[bundle]\nformat=verity\n\n"
                                          "[image.rootfs]\nfilename=rootfs.img\n")
    bundle = d / "big.raucb"
    run("bundle", *signer_args(pki), indir, bundle)
    s = make_target(d / "calibration", pki)
    trace = d / "calibration.trace"
    subprocess.run([STRACE, "-qq", "-y", "-o", str(trace), "-e", "trace=" + ",".join(CALIBRATED), str(ROTA),
                    f"--conf={s.conf}", "install", str(bundle)], check=True, capture_output=True, env=rota_env(s))
    assert grub_primary(grub_list(s.grubenv)) == "B"
    return {"image": indir / "rootfs.img", "sha256": digest, "bundle": bundle, "cal": Calibration(trace.read_text())}


def file_sha(path, size=IMAGE_SIZE):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        left = size
        while left:
            b = f.read(min(left, 16 << 20))
            if not b:
                break
            h.update(b)
            left -= len(b)
    return h.hexdigest()


def read_at(path, offset, length):
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(length)


def make_target(root, pki):
    s = System(root, pki)
    b = s.root / "rootfs.1.img"
    with open(b, "wb") as f:
        f.truncate(SLOT_B_SIZE)  # sparse, all zeros
    s.write_conf(slots={"rootfs.0": {"device": s.slot_file("rootfs.0", 65536), "bootname": "A"},
                        "rootfs.1": {"device": b, "bootname": "B"}})
    s.tmpdir = root / "rota-tmp"
    s.tmpdir.mkdir()
    return s


@pytest.fixture
def target(tmp_path, pki):
    return make_target(tmp_path / "sys", pki)


CALIBRATED = ["fsync", "rename", "fchmod", "clone", "pwrite64", "wait4", "unlinkat"]


class Calibration:
    """The syscalls of rota's main thread during one undisturbed install
    (strace -y), so that kill points are found by what a call touches rather
    than by hard-coded counts that change with the implementation."""

    def __init__(self, trace):
        self.calls = {name: [] for name in CALIBRATED}
        for line in trace.splitlines():
            m = re.match(r"(\w+)\(", line)
            if m and m.group(1) in self.calls:
                self.calls[m.group(1)].append(line)
        self.pwrites = [tuple(map(int, re.search(r", (\d+), (\d+)\) = \d+$", l).groups()))
                        for l in self.calls["pwrite64"] if "rootfs.1.img" in l]  # (length, offset)
        assert len(self.pwrites) == len(self.calls["pwrite64"]) and self.pwrites, "no slot writes seen"

    def when(self, syscall, needle="", occurrence=1):
        """The invocation number of the occurrence-th `syscall` whose line contains needle."""
        hits = [i + 1 for i, l in enumerate(self.calls[syscall]) if needle in l]
        assert len(hits) >= occurrence, f"{syscall} {needle!r} #{occurrence} not in {self.calls[syscall]}"
        return hits[occurrence - 1]


def rota_env(s, extra=None):
    return {**os.environ, "ROTA_CMDLINE_FILE": str(s.cmdline), "TMPDIR": str(s.tmpdir), **(extra or {})}


def strace_install(s, bundle, strace_args, env=None):
    cmd = [STRACE, "-qq", "-o", "/dev/null", *strace_args, str(ROTA), f"--conf={s.conf}", "install",
           str(bundle)]
    return subprocess.run(cmd, capture_output=True, text=True, env=rota_env(s, env), timeout=300)


def plain_install(s, bundle, env=None):
    return subprocess.run([str(ROTA), f"--conf={s.conf}", "install", str(bundle)], capture_output=True, text=True,
                          env=rota_env(s, env), timeout=300)


def editenv_copy(s):
    """The copy of grubenv that rota lets grub-editenv edit before renaming it over."""
    return s.grubenv.parent / (s.grubenv.name + ".rota-new")


# ---- a grub-editenv dispatcher for kills inside / around set-primary ----

def editenv_dispatcher(s, action):
    """A grub-editenv first in PATH: mark-bad calls pass straight to the real
    tool; the set-primary call (it sets ORDER=) gets `action`, a shell snippet
    that ends by running (or not running) the real tool."""
    d = s.root / "bin"
    d.mkdir(exist_ok=True)
    (d / "grub-editenv").write_text(f"""#!/bin/sh
case "$*" in
*ORDER=*) {action} ;;
*) exec {GRUB_EDITENV} "$@" ;;
esac
""")
    (d / "grub-editenv").chmod(0o755)
    return {"PATH": f"{d}:{os.environ['PATH']}"}


def strace_real_editenv(spec):
    """Runs the real grub-editenv under strace with a SIGKILL injection (the set-primary call only)."""
    return f"exec {STRACE} -qq -o /dev/null {spec} {GRUB_EDITENV} \"$@\""


# ---- expectations per kill point ----

def inject(syscall, when, path=None, follow=False):
    """strace arguments killing at the when-th call of syscall (counted per
    process, only calls touching path if given). Without follow only rota's
    main thread is traced; with it, also its threads and children."""
    args = ["-e", f"trace={syscall}", "-e", f"inject={syscall}:signal=SIGKILL:when={when}"]
    return (["-f"] if follow else []) + (["-P", str(path)] if path else []) + args


def no_status(s):
    assert not (s.data / "central.raucs").exists()


def status_is(value):
    def check(s):
        assert s.slot_status("rootfs.1").get("status") == value
    return check


def tmp_left_unrenamed(s):
    no_status(s)
    leftovers = list(s.data.glob("central.raucs.tmp-*"))
    assert len(leftovers) == 1


def no_activation(s):
    assert "activated.count" not in s.slot_status("rootfs.1")


def activated_once(s):
    assert s.slot_status("rootfs.1")["activated.count"] == "1"


def grub_untouched(s):
    env = s.grub()
    assert env["ORDER"] == "A B" and env["B_OK"] == "1"


def b_marked_bad(s):
    env = s.grub()
    assert env["ORDER"] == "A B" and env["B_OK"] == "0"


def slot_written_until(k):
    """pwrite64 number k was never executed: the write before it is in the
    slot, its own range is still zero, and the status says pending."""
    def check(s):
        dev, pw = s.device("rootfs.1"), s.cal.pwrites
        if k > 1:
            length, offset = pw[k - 2]
            assert read_at(dev, offset, length) == read_at(s.big_image, offset, length)
        length, offset = pw[k - 1]
        assert read_at(dev, offset, length) == bytes(length)
        assert s.slot_status("rootfs.1")["status"] == "pending"
    return check


def all_of(*checks):
    def check(s):
        for c in checks:
            c(s)
    return check


KILLED, FAILED = "killed", "failed"

# (id, how, outcome, primary after the kill, check)
#   how: ("strace", args-builder(s, big)) or ("dispatch", snippet)
TMP, DIR, SLOT = "central.raucs.tmp-", "/data>", "rootfs.1.img"
FORK = "SIGCHLD"  # clone() for a child process; threads use clone3()


def at(syscall, needle="", occurrence=1):
    """Kill rota's main thread at a calibrated call (see Calibration.when)."""
    return lambda s, b: inject(syscall, b["cal"].when(syscall, needle, occurrence))


def at_pwrite(fraction):
    """Kill at the slot write `fraction` of the way through the image (1-based, first..last)."""
    def how(s, b):
        n = len(b["cal"].pwrites)
        return inject("pwrite64", max(1, min(n, round(fraction * n))))
    return how


def pwrite_check(fraction):
    def check(s):
        n = len(s.cal.pwrites)
        b_marked_bad(s)
        slot_written_until(max(1, min(n, round(fraction * n))))(s)
    return check


# (id, how, outcome, primary after the kill, check)
#   how: f(system, big) -> strace arguments, or ("dispatch", snippet)
CASES = [
    # before anything
    ("open-bundle", lambda s, b: inject("openat", 1, b["bundle"]), KILLED, "A", all_of(grub_untouched, no_status)),
    # mark-bad of the target
    ("fork-mark-bad", at("clone", FORK, 1), KILLED, "A", all_of(grub_untouched, no_status)),
    ("editenv-mark-bad-exec", lambda s, b: inject("execve", 1, GRUB_EDITENV, follow=True), FAILED, "A",
     all_of(grub_untouched, no_status)),
    ("editenv-mark-bad-before-truncate", lambda s, b: inject("openat", 2, editenv_copy(s), follow=True), FAILED, "A",
     all_of(grub_untouched, no_status)),
    ("editenv-mark-bad-before-fsync", lambda s, b: inject("fsync", 1, editenv_copy(s), follow=True), FAILED, "A",
     all_of(grub_untouched, no_status)),
    ("grubenv-rename-mark-bad", lambda s, b: inject("rename", 1, editenv_copy(s)), KILLED, "A",
     all_of(grub_untouched, no_status)),
    ("grubenv-dirsync-mark-bad", lambda s, b: inject("fsync", 1, s.grubenv.parent), KILLED, "A",
     all_of(b_marked_bad, no_status)),
    ("installer-killed-while-mark-bad-runs", lambda s, b: inject("wait4", 1, follow=True), KILLED, "A",
     all_of(grub_untouched, no_status)),
    # the 'pending' status write
    ("pending-status-written", at("fchmod", TMP, 1), KILLED, "A", all_of(b_marked_bad, tmp_left_unrenamed)),
    ("pending-status-fsync", at("fsync", TMP, 1), KILLED, "A", all_of(b_marked_bad, tmp_left_unrenamed)),
    ("pending-status-rename", at("rename", TMP, 1), KILLED, "A", all_of(b_marked_bad, tmp_left_unrenamed)),
    ("pending-status-dirsync", at("fsync", DIR, 1), KILLED, "A", all_of(b_marked_bad, status_is("pending"))),
    # the image copy
    *[(f"pwrite-{int(f * 100)}pct", at_pwrite(f), KILLED, "A", pwrite_check(f))
      for f in (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0)],
    ("slot-fsync", at("fsync", SLOT, 1), KILLED, "A", all_of(b_marked_bad, status_is("pending"))),
    ("verify-readback", lambda s, b: inject("openat", 2, s.device("rootfs.1")), KILLED, "A",
     all_of(b_marked_bad, status_is("pending"))),
    # the 'ok' status write
    ("ok-status-written", at("fchmod", TMP, 2), KILLED, "A", all_of(b_marked_bad, status_is("pending"))),
    ("ok-status-fsync", at("fsync", TMP, 2), KILLED, "A", all_of(b_marked_bad, status_is("pending"))),
    ("ok-status-rename", at("rename", TMP, 2), KILLED, "A", all_of(b_marked_bad, status_is("pending"))),
    ("ok-status-dirsync", at("fsync", DIR, 2), KILLED, "A", all_of(b_marked_bad, status_is("ok"))),
    # set-primary of the target
    ("fork-set-primary", at("clone", FORK, 2), KILLED, "A", all_of(b_marked_bad, status_is("ok"))),
    ("editenv-set-primary-before-truncate", ("dispatch", strace_real_editenv(
        "-P @GRUBENV@.rota-new -e trace=openat -e inject=openat:signal=SIGKILL:when=2")), FAILED, "A",
     all_of(b_marked_bad, status_is("ok"))),
    ("editenv-set-primary-before-fsync", ("dispatch", strace_real_editenv(
        "-P @GRUBENV@.rota-new -e trace=fsync -e inject=fsync:signal=SIGKILL:when=1")), FAILED, "A",
     all_of(b_marked_bad, status_is("ok"))),
    ("installer-killed-before-set-primary-runs", ("dispatch", "kill -9 $PPID; exit 0"), KILLED, "A",
     all_of(b_marked_bad, status_is("ok"))),
    # grub-editenv edits a copy; until rota renames it over grubenv, A stays primary
    ("installer-killed-while-set-primary-runs", ("dispatch", f"kill -9 $PPID; exec {GRUB_EDITENV} \"$@\""), KILLED,
     "A", all_of(b_marked_bad, status_is("ok"))),
    ("wait-set-primary", lambda s, b: inject("wait4", 2, follow=True), KILLED, "A",
     all_of(b_marked_bad, status_is("ok"))),
    ("grubenv-rename-set-primary", lambda s, b: inject("rename", 2, editenv_copy(s)), KILLED, "A",
     all_of(b_marked_bad, status_is("ok"))),
    ("grubenv-dirsync-set-primary", lambda s, b: inject("fsync", 2, s.grubenv.parent), KILLED, "B",
     status_is("ok")),
    # the activation status write and the cleanup
    ("activated-status-written", at("fchmod", TMP, 3), KILLED, "B", all_of(status_is("ok"), no_activation)),
    ("activated-status-rename", at("rename", TMP, 3), KILLED, "B", all_of(status_is("ok"), no_activation)),
    ("cleanup", at("unlinkat", "AT_REMOVEDIR"), KILLED, "B", activated_once),
]

# grub-editenv rewrites its file in place: open(O_TRUNC), write, fsync. rota
# runs it on a copy and renames the copy over grubenv, so a kill in the
# middle of grub-editenv's write leaves the old environment intact.
TRUNCATION_CASES = [
    ("editenv-mark-bad-mid-write", lambda s, b: inject("write", 1, editenv_copy(s), follow=True), FAILED, "A",
     grub_untouched),
    ("editenv-set-primary-mid-write", ("dispatch", strace_real_editenv(
        "-P @GRUBENV@.rota-new -e trace=write -e inject=write:signal=SIGKILL:when=1")), FAILED, "A", b_marked_bad),
]


def check_after_kill(s, big, outcome, primary, check, proc):
    if outcome == KILLED:
        assert proc.returncode in (-9, 137), f"not killed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    else:
        assert proc.returncode == 1, f"exit {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        assert [l for l in proc.stderr.splitlines() if l.startswith("rota: ")], proc.stderr
    # the bootloader: booted slot still primary, or B complete
    env = grub_list(s.grubenv)
    got = grub_primary(env)
    assert got == primary, f"primary {got}, expected {primary}: {env}"
    if got == "B":
        assert file_sha(s.device("rootfs.1")) == big["sha256"], "B is primary but incomplete"
    # status files parse, and rota agrees about the system
    if (s.data / "central.raucs").exists():
        parse_keyfile(s.data / "central.raucs")
    st = subprocess.run([str(ROTA), f"--conf={s.conf}", "status", "--detailed", "--output-format=json"],
                        capture_output=True, text=True, env=rota_env(s))
    assert st.returncode == 0, st.stderr
    assert json.loads(st.stdout)["boot_primary"] == ("rootfs.0" if primary == "A" else "rootfs.1")
    check(s)


def check_reinstall(s, big):
    r = plain_install(s, big["bundle"])
    assert r.returncode == 0, f"repeated install failed:\n{r.stdout}\n{r.stderr}"
    assert grub_primary(grub_list(s.grubenv)) == "B"
    assert file_sha(s.device("rootfs.1")) == big["sha256"]
    st = s.slot_status("rootfs.1")
    assert st["status"] == "ok" and st["sha256"] == big["sha256"]


def run_case(s, big, how, outcome, primary, check):
    s.big_image, s.cal = big["image"], big["cal"]
    if isinstance(how, tuple):
        snippet = how[1].replace("@GRUBENV@", str(s.grubenv))
        proc = plain_install(s, big["bundle"], env=editenv_dispatcher(s, snippet))
    else:
        proc = strace_install(s, big["bundle"], how(s, big))
    check_after_kill(s, big, outcome, primary, check, proc)
    check_reinstall(s, big)


@pytest.mark.parametrize("how,outcome,primary,check", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_kill(target, big, how, outcome, primary, check):
    run_case(target, big, how, outcome, primary, check)


@pytest.mark.parametrize("how,outcome,primary,check", [c[1:] for c in TRUNCATION_CASES],
                         ids=[c[0] for c in TRUNCATION_CASES])
def test_kill_grub_editenv_mid_write(target, big, how, outcome, primary, check):
    run_case(target, big, how, outcome, primary, check)


def test_grub_editenv_mid_write_keeps_grubenv(target, big):
    """A kill inside grub-editenv's write hits the copy: grubenv keeps its 1 KiB block."""
    before = target.grubenv.read_bytes()
    proc = strace_install(target, big["bundle"], inject("write", 1, editenv_copy(target), follow=True))
    assert proc.returncode == 1
    assert "grub-editenv" in proc.stderr
    assert target.grubenv.read_bytes() == before and len(before) == 1024


def test_uninterrupted_install(target, big):
    """The reference: the same install without a kill."""
    r = plain_install(target, big["bundle"])
    assert r.returncode == 0, r.stderr
    assert grub_primary(grub_list(target.grubenv)) == "B"
    assert file_sha(target.device("rootfs.1")) == big["sha256"]


def test_corrupted_verity_bundle(target, big, tmp_path):
    bad = tmp_path / "bad.raucb"
    shutil.copy(big["bundle"], bad)
    raw = bytearray(bad.read_bytes())
    pos = len(raw) // 2  # the middle of the squashfs: compressed image data
    raw[pos] ^= 0x01
    bad.write_bytes(bytes(raw))
    r = plain_install(target, bad)
    assert r.returncode == 1, r.stdout
    err = [l for l in r.stderr.splitlines() if l.startswith("rota: ")]
    assert len(err) == 1 and "offset" in err[0], r.stderr
    env = grub_list(target.grubenv)
    assert env["B_OK"] == "0" and grub_primary(env) == "A"
    assert target.slot_status("rootfs.1")["status"] == "failed"
    check_reinstall(target, big)
