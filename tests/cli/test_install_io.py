"""How a raw install moves bytes into the slot, and that the read-back still
catches what the device returns wrong: aligned chunks are written and read
back with O_DIRECT, an unaligned tail through the page cache, and chunks of
zeros become zeroed ranges (fallocate) — on files and on block devices."""
import os
import random
import re
import shutil
import subprocess

import pytest

from conftest import ROTA
from system_fixture import bundle, system  # noqa: F401 (fixtures)

STRACE = shutil.which("strace")
K64 = 64 * 1024
# 32 chunks of 64 KiB (the chunk size for images up to 16 MiB): data and
# zero chunks mixed, plus a 123-byte tail that O_DIRECT cannot take.
LAYOUT = "DZZDDZDZZZZDDDZDDZDDZZZZZZDDDDZD"
TAIL = 123


def mixed_image(seed, layout=LAYOUT, tail=TAIL, tail_zero=False):
    rng = random.Random(seed)
    parts = [rng.randbytes(K64) if c == "D" else bytes(K64) for c in layout]
    parts.append(bytes(tail) if tail_zero else rng.randbytes(tail))
    return b"".join(parts)


def slot_bytes(path, n):
    with open(path, "rb") as f:
        return f.read(n)


def with_filled_slots(system, size, fill=b"\xaa"):
    """Slot B full of old, non-zero content that the install must replace."""
    system.write_conf(slots={"rootfs.0": {"device": system.slot_file("rootfs.0", size), "bootname": "A"},
                             "rootfs.1": {"device": system.slot_file("rootfs.1", size, fill), "bootname": "B"}})


def strace_install(system, b, trace, *inject):
    """rota install under strace, one trace file per thread (trace.TID):
    nothing is split by other threads' calls."""
    cmd = [STRACE, "-ff", "-qq", "-o", str(trace), "-P", str(system.device("rootfs.1")),
           "-e", "trace=openat,pwrite64,pread64,fallocate", *inject, str(ROTA), f"--conf={system.conf}", "install",
           str(b)]
    return subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **system.env()}, timeout=300)


class SlotTrace:
    """The slot-B syscalls of one install (strace -ff -P SLOT): preads come
    from one thread (the read-back's), in order."""

    def __init__(self, trace):
        self.flags = {}  # fd -> open flags (all threads share the fd table)
        self.preads = []  # (fd, length, offset)
        self.pwrites = []
        self.fallocates = []
        lines = [l for f in sorted(trace.parent.glob(trace.name + ".*")) for l in f.read_text().splitlines()]
        assert len({f for f in trace.parent.glob(trace.name + ".*") if "pread64" in f.read_text()}) == 1
        for line in lines:
            m = re.search(r'openat\(AT_FDCWD, "[^"]*", ([A-Z_|]+)[^)]*\) = (\d+)', line)
            if m:
                self.flags[int(m.group(2))] = m.group(1)
            m = re.search(r"(pread64|pwrite64)\((\d+), .*, (\d+), (\d+)\) = \d+", line)
            if m:
                (self.preads if m.group(1) == "pread64" else self.pwrites).append(tuple(map(int, m.groups()[1:])))
            if re.search(r"fallocate\(\d+, FALLOC_FL_ZERO_RANGE, \d+, \d+\) = 0", line):
                self.fallocates.append(line)

    def direct(self, fd):
        return "O_DIRECT" in self.flags[fd]


@pytest.mark.skipif(not STRACE, reason="needs strace")
def test_writes_direct_zero_ranges_and_page_cache_tail(system, bundle, tmp_path):
    img = mixed_image(1)
    with_filled_slots(system, len(img) + 4096)
    b = bundle({"rootfs": ("rootfs.img", img)})
    r = strace_install(system, b, tmp_path / "trace")
    assert r.returncode == 0, r.stderr
    assert slot_bytes(system.device("rootfs.1"), len(img)) == img
    assert system.primary() == "B"
    t = SlotTrace(tmp_path / "trace")
    zero_chunks = LAYOUT.count("Z")
    assert len(t.fallocates) == zero_chunks
    # data chunks with O_DIRECT, the tail through the page cache
    assert sorted(t.direct(fd) for fd, _, _ in t.pwrites) == [False] + [True] * LAYOUT.count("D")
    tail_write = [w for w in t.pwrites if not t.direct(w[0])]
    assert tail_write[0][1:] == (TAIL, len(LAYOUT) * K64)
    # everything is read back, zero ranges included; only the tail without O_DIRECT
    assert sum(n for _, n, _ in t.preads) == len(img)
    assert [(n, off) for fd, n, off in t.preads if not t.direct(fd)] == [(TAIL, len(LAYOUT) * K64)]


@pytest.mark.parametrize("tail", [0, TAIL])
def test_file_slot_grows_to_an_image_ending_in_zeros(system, bundle, tail):
    """A file slot shorter than the image grows to its size, also when the
    last chunks are zero ranges (one of them unaligned)."""
    img = mixed_image(4, layout="DDZDZZ", tail=tail, tail_zero=True)
    system.write_conf(slots={"rootfs.0": {"device": system.slot_file("rootfs.0", 0), "bootname": "A"},
                             "rootfs.1": {"device": system.slot_file("rootfs.1", 0), "bootname": "B"}})
    system.install(bundle({"rootfs": ("rootfs.img", img)}))
    assert system.device("rootfs.1").read_bytes() == img
    assert system.primary() == "B"


@pytest.mark.skipif(not STRACE, reason="needs strace")
@pytest.mark.parametrize("which", ["direct-data", "direct-zero-range", "page-cache-tail"])
def test_readback_mismatch_is_detected(system, bundle, tmp_path, which):
    """A read-back that returns other bytes than were written fails the
    install, whichever way the range was written and read."""
    img = mixed_image(2)
    with_filled_slots(system, len(img) + 4096)
    b = bundle({"rootfs": ("rootfs.img", img)})
    r = strace_install(system, b, tmp_path / "calibration")
    assert r.returncode == 0, r.stderr
    t = SlotTrace(tmp_path / "calibration")
    zero_offsets = {i * K64 for i, c in enumerate(LAYOUT) if c == "Z"}
    pick = {"direct-data": lambda fd, off: t.direct(fd) and off not in zero_offsets,
            "direct-zero-range": lambda fd, off: t.direct(fd) and off in zero_offsets,
            "page-cache-tail": lambda fd, off: not t.direct(fd)}[which]
    # the when-th pread of slot B in the read-back thread
    when = next(i + 1 for i, (fd, _, off) in enumerate(t.preads) if pick(fd, off) and i > 0)

    system.reset_grub()
    r = strace_install(system, b, tmp_path / "trace", "-e", f"inject=pread64:poke_exit=@arg2=5a5a5a5a:when={when}")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "rota: " in r.stderr and "written data does not match the image" in r.stderr
    assert system.primary() == "A"
    assert system.grub()["B_OK"] == "0"
    assert system.slot_status("rootfs.1")["status"] == "failed"


@pytest.fixture
def loop_device():
    """Block devices: loop devices over slot files."""
    loops = []

    def attach(path):
        r = subprocess.run(["losetup", "--find", "--show", str(path)], capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"no loop device: {r.stderr.strip()}")
        loops.append(r.stdout.strip())
        return loops[-1]

    yield attach
    for dev in loops:
        subprocess.run(["losetup", "-d", dev], check=False)


@pytest.mark.parametrize("tail_zero", [False, True])
def test_block_device_slot(system, bundle, loop_device, tail_zero):
    """On a block device: O_DIRECT, zeroed ranges (WRITE ZEROES through the
    loop driver) over old content, and an unaligned (possibly zero) tail."""
    img = mixed_image(3, tail_zero=tail_zero)
    size = len(img) // 4096 * 4096 + 8192
    a = loop_device(system.slot_file("rootfs.0", size))
    b_dev = loop_device(system.slot_file("rootfs.1", size, b"\xaa"))
    system.write_conf(slots={"rootfs.0": {"device": a, "bootname": "A"}, "rootfs.1": {"device": b_dev, "bootname": "B"}})
    system.install(bundle({"rootfs": ("rootfs.img", img)}))
    assert slot_bytes(b_dev, size) == img + b"\xaa" * (size - len(img))
    assert system.primary() == "B"
    assert system.slot_status("rootfs.1")["status"] == "ok"


@pytest.mark.parametrize("slot_type,filename", [("raw", "rootfs.img"), ("ext4", "rootfs.ext4")])
def test_image_larger_than_block_device_slot(system, bundle, loop_device, tmp_path, slot_type, filename):
    """An image bigger than the slot's block device (which, unlike a file
    slot, cannot grow), raw-copied into a raw or an ext4 slot: refused with
    RAUC's message before a byte is written; B stays marked bad. write-slot
    refuses it as well."""
    size = 256 * 1024
    a = loop_device(system.slot_file("rootfs.0", size))
    b_dev = loop_device(system.slot_file("rootfs.1", size, b"\xaa"))
    system.write_conf(slots={"rootfs.0": {"device": a, "bootname": "A", "type": slot_type},
                             "rootfs.1": {"device": b_dev, "bootname": "B", "type": slot_type}})
    img = random.Random(4).randbytes(size + 4096)
    too_small = f"Slot ({size} bytes) is too small for image ({size + 4096} bytes)."
    system.fails("install", bundle({"rootfs": (filename, img)}), match=f"Failed updating slot rootfs.1: {too_small}")
    assert slot_bytes(b_dev, size) == b"\xaa" * size
    assert system.primary() == "A" and system.grub()["B_OK"] == "0"
    assert system.slot_status("rootfs.1")["status"] == "failed"
    (tmp_path / filename).write_bytes(img)
    system.fails("write-slot", "rootfs.1", tmp_path / filename, match=too_small)
    assert slot_bytes(b_dev, size) == b"\xaa" * size
