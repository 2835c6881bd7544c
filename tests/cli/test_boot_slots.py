"""Boot region slots (system-conf.md §9.4) on disk-image files made with
sfdisk, installed beside the A/B rootfs group:

  * boot-mbr-switch / boot-gpt-switch: the image lands in the half that
    partition 1 does not point at, the old half stays untouched, and only
    then does partition 1 move (both GPT copies valid, checked with
    sfdisk --verify and sgdisk -v); a second install switches back;
  * boot-raw-fallback: both halves end up holding the image, each written
    header last, primary first when its header is clear;
  * every refusal names the slot and the value, and leaves every byte of
    the disk and of the rootfs slots as it was;
  * SIGKILL at each write of the switch / of the copies leaves a bootable
    region (strace syscall injection, as in test_failsafe.py);
  * the same bundle installed by Debian's rauc 1.8 (rauc service on a
    private session bus) leaves a byte-identical disk."""
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import time
import zlib

import pytest

from conftest import ROTA
from system_fixture import System, bundle, random_image  # noqa: F401 (fixture)

MiB = 1 << 20
DISK_SIZE = 16 * MiB
REGION_START = 1 * MiB
REGION_SIZE = 2 * MiB
HALF = REGION_SIZE // 2
FIRST, SECOND = REGION_START, REGION_START + HALF  # byte offsets of the halves
IMG_SIZE = 600 * 1024
STRACE = shutil.which("strace")

MBR_TABLE = "label: dos\nlabel-id: 0x1234abcd\nstart=2048, size=2048, type=c\nstart=6144, type=83\n"
GPT_TABLE = ("label: gpt\nlabel-id: 6A3C1D38-4C5F-4B0E-9B1C-3C2A1B0D9E8F\n"
             "start=2048, size=2048, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, "
             "uuid=0E2B7F5A-3C1D-4E6F-8A9B-1C2D3E4F5A6B, name=boot\n"
             "start=6144, size=8192, uuid=1F3C8A6B-4D2E-5F70-9BAC-2D3E4F5A6B7C, name=root\n")
TABLES = {"boot-mbr-switch": MBR_TABLE, "boot-gpt-switch": GPT_TABLE}
SWITCH_TYPES = list(TABLES)


def test_tools_present():
    for tool in ("sfdisk", "sgdisk", "strace", "losetup"):
        assert shutil.which(tool), f"{tool} must be installed (scripts/install-deps.sh)"


# ---- disks ----

def make_disk(path, table=None, seed=7):
    """A 16 MiB disk: random bytes (so untouched areas are recognisable),
    with table (an sfdisk script) written over them."""
    random_image(path, DISK_SIZE, seed)
    if table:
        subprocess.run(["sfdisk", "-q", "--no-reread", "--wipe=never", str(path)], input=table, text=True,
                       check=True, capture_output=True)
    return path


def read_at(path, offset, length):
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(length)


def write_at(path, offset, data):
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def partitions(path):
    """sfdisk --json: [(start, size)] in sectors, partition 1 first."""
    out = subprocess.run(["sfdisk", "--json", str(path)], capture_output=True, text=True, check=True).stdout
    return [(p["start"], p["size"]) for p in json.loads(out)["partitiontable"]["partitions"]]


def boot_half(path):
    """Which half partition 1 points at: 0 (first) or 1 (second)."""
    start, size = partitions(path)[0]
    assert size * 512 == HALF
    assert start * 512 in (FIRST, SECOND), start
    return 0 if start * 512 == FIRST else 1


def half_holds(path, offset, image):
    """The half at offset holds image followed by zeros (RAUC clears the half)."""
    return read_at(path, offset, HALF) == image + bytes(HALF - len(image))


def sfdisk_verify(path):
    r = subprocess.run(["sfdisk", "--verify", str(path)], capture_output=True, text=True)
    assert r.returncode == 0 and "No errors detected" in r.stdout, r.stdout + r.stderr


def sgdisk_verify(path):
    r = subprocess.run(["sgdisk", "-v", str(path)], capture_output=True, text=True)
    assert "No problems found" in r.stdout, r.stdout + r.stderr


def gpt_copies(path):
    """Both GPT copies parsed independently: [(valid, entry-1 first LBA)]."""
    def parse(lba):
        h = read_at(path, lba * 512, 512)
        if h[:8] != b"EFI PART":
            return False, None, None
        hsize, hcrc = struct.unpack_from("<II", h, 12)
        my, alt = struct.unpack_from("<QQ", h, 24)
        ents_lba, n, esize, ecrc = struct.unpack_from("<QIII", h, 72)
        hdr = bytearray(h[:hsize])
        hdr[16:20] = b"\0\0\0\0"
        ents = read_at(path, ents_lba * 512, n * esize)
        valid = zlib.crc32(bytes(hdr)) == hcrc and zlib.crc32(ents) == ecrc and my == lba
        return valid, struct.unpack_from("<Q", ents, 32)[0], alt

    primary = parse(1)
    backup = parse(DISK_SIZE // 512 - 1)
    return [primary[:2], backup[:2]]


# ---- the system ----

def boot_slot(disk, stype, start="1M", size="2M"):
    keys = {"device": disk, "type": stype}
    if start is not None:
        keys["region-start"] = start
    if size is not None:
        keys["region-size"] = size
    return keys


def write_boot_conf(s, disk, stype, **region):
    s.write_conf(slots={"rootfs.0": {"device": s.slot_file("rootfs.0"), "bootname": "A"},
                        "rootfs.1": {"device": s.slot_file("rootfs.1"), "bootname": "B"},
                        "bootloader.0": boot_slot(disk, stype, **region)})


@pytest.fixture
def images(tmp_path):
    return {name: random_image(tmp_path / f"{name}.bin", size, seed)
            for name, size, seed in (("rootfs", 300 * 1024, 1), ("boot1", IMG_SIZE, 2), ("boot2", IMG_SIZE - 4096, 3),
                                     ("big", HALF + 512, 4), ("tiny", 200, 5))}


def make_system(tmp_path, pki, stype, table=True):
    s = System(tmp_path / "sys", pki)
    disk = make_disk(s.root / "disk.img", TABLES.get(stype) if table else None)
    write_boot_conf(s, disk, stype)
    s.disk = disk
    return s


def boot_bundle(bundle, images, boot="boot1", name="bootloader.img", fmt="verity", extra_images=None, **kw):
    imgs = {"rootfs": ("rootfs.img", images["rootfs"]), "bootloader": (name, images[boot])}
    imgs.update(extra_images or {})
    return bundle(imgs, fmt=fmt, **kw)


# ---- switching installs ----

@pytest.mark.parametrize("stype", SWITCH_TYPES)
def test_switch_install_and_back(tmp_path, pki, bundle, images, stype):
    s = make_system(tmp_path, pki, stype)
    before = s.disk.read_bytes()
    (tmp_path / "before.img").write_bytes(before)
    assert boot_half(s.disk) == 0

    s.install(boot_bundle(bundle, images, "boot1", version="1"))
    after1 = s.disk.read_bytes()
    assert boot_half(s.disk) == 1
    assert half_holds(s.disk, SECOND, images["boot1"])
    assert after1[FIRST:SECOND] == before[FIRST:SECOND]  # the booting half is untouched
    # the rest of the disk too, apart from the partition table(s)
    assert after1[34 * 512:FIRST] == before[34 * 512:FIRST]
    assert after1[REGION_START + REGION_SIZE:DISK_SIZE - 33 * 512] == \
        before[REGION_START + REGION_SIZE:DISK_SIZE - 33 * 512]
    assert partitions(s.disk)[1:] == partitions(tmp_path / "before.img")[1:]
    # the rootfs group beside it
    assert read_at(s.device("rootfs.1"), 0, len(images["rootfs"])) == images["rootfs"]
    assert s.primary() == "B"
    st = s.slot_status("bootloader.0")
    assert st["status"] == "ok"
    assert st["sha256"] == hashlib.sha256(images["boot1"]).hexdigest()
    assert st["size"] == str(IMG_SIZE)
    assert s.slot_status("rootfs.1")["status"] == "ok"
    sfdisk_verify(s.disk)
    if stype == "boot-gpt-switch":
        sgdisk_verify(s.disk)
        assert gpt_copies(s.disk) == [(True, SECOND // 512), (True, SECOND // 512)]

    # Booted from B now: the next install targets A and switches the boot region back.
    s.boot("B")
    s.install(boot_bundle(bundle, images, "boot2", version="2"))
    assert boot_half(s.disk) == 0
    assert half_holds(s.disk, FIRST, images["boot2"])
    assert half_holds(s.disk, SECOND, images["boot1"])  # the previous image stays as it was
    assert read_at(s.device("rootfs.0"), 0, len(images["rootfs"])) == images["rootfs"]
    assert s.primary() == "A"
    assert s.slot_status("bootloader.0")["installed.count"] == "2"
    sfdisk_verify(s.disk)
    if stype == "boot-gpt-switch":
        sgdisk_verify(s.disk)


def test_gpt_vfat_and_ext4_images(tmp_path, pki, bundle, images):
    """§9.2: vfat → MBR and GPT, ext4 → GPT only."""
    s = make_system(tmp_path, pki, "boot-gpt-switch")
    s.install(boot_bundle(bundle, images, "boot1", name="boot.ext4"))
    assert boot_half(s.disk) == 1 and half_holds(s.disk, SECOND, images["boot1"])
    s.boot("B")
    s.install(boot_bundle(bundle, images, "boot2", name="boot.vfat"))
    assert boot_half(s.disk) == 0 and half_holds(s.disk, FIRST, images["boot2"])


def test_install_same_skips_boot_region(tmp_path, pki, bundle, images):
    s = make_system(tmp_path, pki, "boot-mbr-switch")
    s.write_conf(slots={**s.slots, "bootloader.0": {**s.slots["bootloader.0"], "install-same": "false"}})
    s.install(boot_bundle(bundle, images, "boot1"))
    assert boot_half(s.disk) == 1
    s.boot("B")
    r = s.install(boot_bundle(bundle, images, "boot1"))
    assert "Skipping slot bootloader.0" in r.stdout + r.stderr
    assert boot_half(s.disk) == 1  # not switched back: it holds that image already


# ---- raw fallback ----

def test_fallback_install_writes_both_copies(tmp_path, pki, bundle, images):
    s = make_system(tmp_path, pki, "boot-raw-fallback")
    before = s.disk.read_bytes()
    s.install(boot_bundle(bundle, images, "boot1"))
    after = s.disk.read_bytes()
    assert half_holds(s.disk, FIRST, images["boot1"])
    assert half_holds(s.disk, SECOND, images["boot1"])
    assert after[:FIRST] == before[:FIRST]
    assert after[REGION_START + REGION_SIZE:] == before[REGION_START + REGION_SIZE:]
    assert s.slot_status("bootloader.0")["status"] == "ok"
    s.boot("B")
    s.install(boot_bundle(bundle, images, "boot2"))
    assert half_holds(s.disk, FIRST, images["boot2"]) and half_holds(s.disk, SECOND, images["boot2"])


def traced_pwrites(s, bundle_path, env=None):
    """(offset, length) of every pwrite64 rota's main thread makes on the disk."""
    trace = s.root / "pwrite.trace"
    subprocess.run([STRACE, "-qq", "-o", str(trace), "-e", "trace=pwrite64", "-P", str(s.disk), str(ROTA),
                    f"--conf={s.conf}", "install", str(bundle_path)], check=True, capture_output=True,
                   env={**os.environ, **s.env(env)})
    return [(int(m.group(2)), int(m.group(1))) for m in
            (re.search(r", (\d+), (\d+)\) = \d+$", line) for line in trace.read_text().splitlines()) if m]


def header_writes(writes):
    """The 512-byte writes at the start of a half: (which half, index in writes)."""
    return [("primary" if off == FIRST else "fallback", i) for i, (off, n) in enumerate(writes)
            if n == 512 and off in (FIRST, SECOND)]


@pytest.mark.parametrize("primary_clear", [False, True])
def test_fallback_order_and_header_last(tmp_path, pki, bundle, images, primary_clear):
    """RAUC's order: fallback first, unless the primary's header is clear
    (the device then booted the fallback: make the primary whole first).
    Per copy: header cleared, the rest written, header written last."""
    s = make_system(tmp_path, pki, "boot-raw-fallback")
    if primary_clear:
        write_at(s.disk, FIRST, b"\xff" * 512)
    writes = traced_pwrites(s, boot_bundle(bundle, images, "boot1"))
    hdrs = header_writes(writes)
    first, second = ("primary", "fallback") if primary_clear else ("fallback", "primary")
    assert [h for h, _ in hdrs] == [first, first, second, second], hdrs
    for (name, clear_at), (_, header_at) in (hdrs[0:2], hdrs[2:4]):
        start = FIRST if name == "primary" else SECOND
        body = [i for i, (off, n) in enumerate(writes) if start + 512 <= off < start + IMG_SIZE]
        assert body and clear_at < min(body) and max(body) < header_at, (name, clear_at, body, header_at)
    assert half_holds(s.disk, FIRST, images["boot1"]) and half_holds(s.disk, SECOND, images["boot1"])


# ---- refusals: nothing written anywhere ----

def snapshot(s):
    return {"disk": s.disk.read_bytes(), "rootfs.1": s.device("rootfs.1").read_bytes(), "grub": s.grub()}


def assert_untouched(s, snap):
    assert s.disk.read_bytes() == snap["disk"]
    assert s.device("rootfs.1").read_bytes() == snap["rootfs.1"]
    assert s.grub() == snap["grub"]


REFUSALS = [
    # (id, slot type, disk table (None: keep the type's), region keys, image, expected message)
    ("mbr-too-large", "boot-mbr-switch", None, {}, "big",
     f"Slot bootloader.0: Size of image ({HALF + 512} bytes) does not fit into half of the boot region ({HALF} bytes)"),
    ("gpt-too-large", "boot-gpt-switch", None, {}, "big", "does not fit into half of the boot region (1048576 bytes)"),
    ("fallback-too-large", "boot-raw-fallback", None, {}, "big", "does not fit into half of the boot region"),
    ("mbr-entry-outside-region", "boot-mbr-switch",
     "label: dos\nstart=8192, size=2048, type=c\n", {}, "boot1",
     "Boot partition's start address does not match region configuration: MBR partition 1 starts at sector 8192, "
     "the region's halves at sectors 2048 and 4096"),
    ("gpt-entry-outside-region", "boot-gpt-switch", "label: gpt\nstart=8192, size=2048\n", {}, "boot1",
     "GPT partition 1 starts at sector 8192"),
    ("mbr-second-entry-in-region", "boot-mbr-switch",
     "label: dos\nstart=2048, size=2048, type=c\nstart=4096, size=2048, type=83\n", {}, "boot1",
     "Region 0x100000-0x2fffff overlaps MBR partition 2 (0x200000-0x2fffff)"),
    ("gpt-second-entry-in-region", "boot-gpt-switch",
     "label: gpt\nstart=2048, size=2048\nstart=5120, size=2048\n", {}, "boot1",
     "Region (sectors 0x800-0x17ff) overlaps with GPT partition 2 (sectors 0x1400-0x1bff)"),
    # partition 1 reaching into the other half: writing that half would overwrite the booting partition
    ("mbr-boot-partition-spans-halves", "boot-mbr-switch", "label: dos\nstart=2048, size=4096, type=c\n", {}, "boot1",
     "Boot partition is larger than half of the boot region: MBR partition 1 has 4096 sectors, the first half 2048"),
    ("gpt-boot-partition-spans-halves", "boot-gpt-switch", "label: gpt\nstart=2048, size=4096\n", {}, "boot1",
     "Boot partition is larger than half of the boot region: GPT partition 1 has 4096 sectors, the first half 2048"),
    ("mbr-no-boot-partition", "boot-mbr-switch", None, {}, "boot1", "No boot partition found in MBR entry 1"),
    ("mbr-no-signature", "boot-mbr-switch", "", {}, "boot1", "No valid master boot record found"),
    ("gpt-on-mbr-disk", "boot-gpt-switch", MBR_TABLE, {}, "boot1", "GPT not found"),
    ("mbr-region-beyond-disk", "boot-mbr-switch", None, {"start": "15M", "size": "2M"}, "boot1",
     "Region configuration is bigger than device"),
    ("gpt-region-unaligned", "boot-gpt-switch", None, {"start": "1536K"}, "boot1",
     "Region start 1572864 is not aligned to grain-size 1048576"),
    ("mbr-region-size-odd", "boot-mbr-switch", None, {"size": "2097664"}, "boot1",
     "Region size 2097664 is not aligned to the double sector size 1024"),
    ("fallback-region-unaligned", "boot-raw-fallback", None, {"start": "1000"}, "boot1",
     "Region start 1000 is not aligned to the header size 512"),
    ("fallback-region-beyond-disk", "boot-raw-fallback", None, {"start": "15M"}, "boot1",
     "Region configuration is bigger than device"),
    # region-start + region-size wrapping around 2^64 would pass "fits the device"
    ("fallback-region-overflow", "boot-raw-fallback", None, {"size": str(2**64 - MiB)}, "boot1",
     "[slot.bootloader.0] region-size: region-start + region-size is beyond any device"),
    # entry 1 an extended partition: pointed at the image, the kernel would read an EBR chain in it
    ("mbr-entry-1-extended", "boot-mbr-switch", "label: dos\nstart=2048, size=2048, type=5\n", {}, "boot1",
     "MBR entry 1 of"),
    # a header is written at the start of each half: it must fit inside it
    ("fallback-region-too-small", "boot-raw-fallback", None, {"size": "0"}, "tiny",
     "Half region size 0 is smaller than the header size 512"),
]


@pytest.mark.parametrize("case", REFUSALS, ids=[c[0] for c in REFUSALS])
def test_refusals_change_nothing(tmp_path, pki, bundle, images, case):
    _, stype, table, region, image, message = case
    s = make_system(tmp_path, pki, stype)
    if table is not None:
        make_disk(s.disk, table or None)
    if table == "":
        write_at(s.disk, 510, b"\0\0")  # surely no MBR signature
    if region:
        write_boot_conf(s, s.disk, stype, **region)
    if case[0] == "mbr-no-boot-partition":
        # an MBR whose entry 1 is empty, partition 2 elsewhere
        make_disk(s.disk, "label: dos\nstart=8192, size=2048, type=83\n")
        mbr = bytearray(read_at(s.disk, 0, 512))
        mbr[446 + 16:446 + 32] = mbr[446:462]
        mbr[446:462] = bytes(16)
        write_at(s.disk, 0, bytes(mbr))
    snap = snapshot(s)
    r = s.fails("install", boot_bundle(bundle, images, image), match=message)
    assert "bootloader.0" in r.error_line()
    assert_untouched(s, snap)


@pytest.mark.parametrize("stype", ["boot-mbr-switch", "boot-gpt-switch", "boot-raw-fallback"])
@pytest.mark.parametrize("missing", ["region-start", "region-size"])
def test_missing_region_key(tmp_path, pki, bundle, images, stype, missing):
    s = make_system(tmp_path, pki, stype)
    write_boot_conf(s, s.disk, stype, **{missing.split("-")[1]: None})
    snap = snapshot(s)
    r = s.fails("install", boot_bundle(bundle, images), match=f"[slot.bootloader.0] {missing}: mandatory for {stype}")
    assert str(s.conf) in r.error_line()
    assert_untouched(s, snap)


@pytest.mark.parametrize("stype,name,itype", [("boot-mbr-switch", "boot.ext4", "ext4"),
                                               ("boot-raw-fallback", "boot.vfat", "vfat"),
                                               ("boot-gpt-switch", "boot.tar", "tar"),
                                               ("boot-mbr-switch", "boot.squashfs", "squashfs")])
def test_wrong_image_type(tmp_path, pki, bundle, images, stype, name, itype):
    s = make_system(tmp_path, pki, stype)
    snap = snapshot(s)
    s.fails("install", boot_bundle(bundle, images, name=name),
            match=f"Unsupported image type '{itype}' for slot type '{stype}'")
    assert_untouched(s, snap)


@pytest.mark.parametrize("stype", ["boot-emmc"])
def test_other_boot_types_stay_refused(tmp_path, pki, bundle, images, stype):
    """No eMMC here: boot-emmc slots load but refuse images (nand, nor and
    ubivol are written by the mtd-utils tools: tests/cli/test_mtd_slots.py)."""
    s = System(tmp_path / "sys", pki)
    disk = make_disk(s.root / "disk.img")
    s.write_conf(slots={"rootfs.0": {"device": s.slot_file("rootfs.0"), "bootname": "A"},
                        "rootfs.1": {"device": s.slot_file("rootfs.1"), "bootname": "B"},
                        "bootloader.0": {"device": disk, "type": stype}})
    before = disk.read_bytes()
    s.fails("install", boot_bundle(bundle, images), match=f"Unsupported image type 'raw' for slot type '{stype}'")
    assert disk.read_bytes() == before


# ---- hooks ----

BOOT_HOOK = """\
#!/bin/sh
echo "$1" >> "$HOOK_OUT/order"
env > "$HOOK_OUT/$1.env"
sfdisk --json "$RAUC_SLOT_DEVICE" > "$HOOK_OUT/$1.table" 2>/dev/null || true
exit 0
"""


@pytest.mark.parametrize("stype", ["boot-mbr-switch", "boot-gpt-switch", "boot-raw-fallback"])
def test_hook_environment(tmp_path, pki, bundle, images, stype):
    s = make_system(tmp_path, pki, stype)
    out = tmp_path / "hookout"
    out.mkdir()
    b = boot_bundle(bundle, images, hooks_file="hook.sh", files={"hook.sh": (BOOT_HOOK, 0o755)},
                    image_keys={"bootloader": "hooks=pre-install;post-install"})
    s.install(b, env={"HOOK_OUT": str(out)})
    assert (out / "order").read_text().split() == ["slot-pre-install", "slot-post-install"]
    for hook in ("slot-pre-install", "slot-post-install"):
        env = dict(l.split("=", 1) for l in (out / f"{hook}.env").read_text().splitlines() if "=" in l)
        assert env["RAUC_SLOT_NAME"] == "bootloader.0"
        assert env["RAUC_SLOT_TYPE"] == stype
        assert env["RAUC_SLOT_DEVICE"] == str(s.disk)
        if stype == "boot-raw-fallback":
            assert env["RAUC_BOOT_REGION_START"] == str(REGION_START)
            assert env["RAUC_BOOT_REGION_SIZE"] == str(REGION_SIZE)
            assert "RAUC_BOOT_PARTITION_ACTIVATING" not in env
        else:
            assert env["RAUC_BOOT_PARTITION_ACTIVATING"] == "1"
            assert env["RAUC_BOOT_PARTITION_START"] == str(SECOND)
            assert env["RAUC_BOOT_PARTITION_SIZE"] == str(HALF)
            assert "RAUC_BOOT_REGION_START" not in env
            # post-install runs before the switch (RAUC's order): partition 1 still on the first half
            table = json.loads((out / f"{hook}.table").read_text())["partitiontable"]["partitions"]
            assert table[0]["start"] * 512 == FIRST
    if stype != "boot-raw-fallback":
        assert boot_half(s.disk) == 1


# ---- write-slot ----

@pytest.mark.parametrize("stype", ["boot-mbr-switch", "boot-gpt-switch", "boot-raw-fallback"])
def test_write_slot(tmp_path, pki, images, stype):
    s = make_system(tmp_path, pki, stype)
    img = tmp_path / "bootloader.img"
    img.write_bytes(images["boot1"])
    r = s.rota("write-slot", "bootloader.0", img)
    assert "Slot written successfully" in r.stdout
    if stype == "boot-raw-fallback":
        assert half_holds(s.disk, FIRST, images["boot1"]) and half_holds(s.disk, SECOND, images["boot1"])
    else:
        assert boot_half(s.disk) == 1 and half_holds(s.disk, SECOND, images["boot1"])
        img.write_bytes(images["boot2"])
        s.rota("write-slot", "bootloader.0", img)
        assert boot_half(s.disk) == 0 and half_holds(s.disk, FIRST, images["boot2"])
    big = tmp_path / "big.img"
    big.write_bytes(images["big"])
    before = s.disk.read_bytes()
    s.fails("write-slot", "bootloader.0", big, match="Failed writing slot bootloader.0: Size of image")
    assert s.disk.read_bytes() == before


# ---- GPT repair ----

@pytest.mark.parametrize("broken", ["primary", "backup"])
def test_gpt_broken_copy_is_repaired(tmp_path, pki, bundle, images, broken):
    s = make_system(tmp_path, pki, "boot-gpt-switch")
    lba = 1 if broken == "primary" else DISK_SIZE // 512 - 1
    write_at(s.disk, lba * 512 + 56, b"junk")  # in the disk GUID: the header CRC fails
    assert gpt_copies(s.disk)[0 if broken == "primary" else 1][0] is False
    s.install(boot_bundle(bundle, images))
    assert gpt_copies(s.disk) == [(True, SECOND // 512), (True, SECOND // 512)]
    sgdisk_verify(s.disk)
    assert half_holds(s.disk, SECOND, images["boot1"])


def test_gpt_copy_placed_in_partition_is_refused(tmp_path, pki, bundle, images):
    """A primary header with valid CRCs whose AlternateLBA points into
    partition 2, and a broken backup: rebuilding the backup there would
    write into that partition. Refused before anything is written."""
    s = make_system(tmp_path, pki, "boot-gpt-switch")
    write_at(s.disk, (DISK_SIZE // 512 - 1) * 512 + 56, b"junk")  # the backup's header CRC fails
    h = bytearray(read_at(s.disk, 512, 512))
    hsize = struct.unpack_from("<I", h, 12)[0]
    struct.pack_into("<Q", h, 32, 10000)  # AlternateLBA: inside partition 2 (sectors 6144-14335)
    struct.pack_into("<I", h, 16, 0)
    struct.pack_into("<I", h, 16, zlib.crc32(bytes(h[:hsize])))
    write_at(s.disk, 512, bytes(h))
    assert gpt_copies(s.disk)[0][0] is True
    snap = snapshot(s)
    r = s.fails("install", boot_bundle(bundle, images),
                match="primary: usable sectors, other copy or entries misplaced; backup: header CRC32 mismatch")
    assert "bootloader.0" in r.error_line()
    assert_untouched(s, snap)


def set_primary_alternate_lba(disk, lba):
    """Points the primary header's AlternateLBA at lba, with a valid CRC."""
    h = bytearray(read_at(disk, 512, 512))
    hsize = struct.unpack_from("<I", h, 12)[0]
    struct.pack_into("<Q", h, 32, lba)
    struct.pack_into("<I", h, 16, 0)
    struct.pack_into("<I", h, 16, zlib.crc32(bytes(h[:hsize])))
    write_at(disk, 512, bytes(h))


@pytest.mark.parametrize("alternate", [100, 1])
def test_gpt_primary_pointing_its_backup_before_partitions(tmp_path, pki, bundle, images, alternate):
    """A primary with valid CRCs whose AlternateLBA lies before the first
    usable sector (where SoC boot loaders are often stored) or at itself is
    not trusted: the real backup is used, the primary rebuilt where it
    belongs, and nothing before the first partition is written."""
    s = make_system(tmp_path, pki, "boot-gpt-switch")
    set_primary_alternate_lba(s.disk, alternate)
    before = s.disk.read_bytes()
    s.install(boot_bundle(bundle, images))
    after = s.disk.read_bytes()
    assert after[34 * 512:FIRST] == before[34 * 512:FIRST]  # e.g. an idbloader at LBA 64
    assert gpt_copies(s.disk) == [(True, SECOND // 512), (True, SECOND // 512)]
    sgdisk_verify(s.disk)


# ---- kills ----

def killed_install(s, bundle_path, when):
    """rota install, SIGKILLed at its when-th pwrite64 on the disk."""
    tmp = s.root / "tmp"
    tmp.mkdir(exist_ok=True)  # what the killed rota leaves behind stays here
    r = subprocess.run([STRACE, "-qq", "-o", "/dev/null", "-e", "trace=pwrite64", "-P", str(s.disk), "-e",
                        f"inject=pwrite64:signal=SIGKILL:when={when}", str(ROTA), f"--conf={s.conf}", "install",
                        str(bundle_path)], capture_output=True, text=True,
                       env={**os.environ, **s.env({"TMPDIR": str(tmp)})})
    assert r.returncode != 0, "the install was not killed"
    return r


def table_writes(writes):
    """Indexes (1-based) of the writes outside the region: the partition table."""
    return [i + 1 for i, (off, n) in enumerate(writes) if not REGION_START <= off < REGION_START + REGION_SIZE]


@pytest.mark.parametrize("stype", SWITCH_TYPES)
def test_kill_before_and_during_switch(tmp_path, pki, bundle, images, stype):
    """A kill at any write up to the partition table's leaves partition 1 on
    the old half; a kill during the GPT's four writes leaves at least one
    valid GPT copy, pointing at a half with a complete image; a later
    install finishes the job."""
    cal = make_system(tmp_path / "cal", pki, stype)
    b = boot_bundle(bundle, images, "boot1")
    writes = traced_pwrites(cal, b)
    table = table_writes(writes)
    assert len(table) == (1 if stype == "boot-mbr-switch" else 4), writes
    assert table[0] == len(writes) - len(table) + 1  # the table is written last
    assert boot_half(cal.disk) == 1

    points = sorted({1, table[0] - 1, *table})
    for k in points:
        s = make_system(tmp_path / f"kill{k}", pki, stype)
        old_first_half = read_at(s.disk, FIRST, HALF)
        killed_install(s, b, k)
        assert read_at(s.disk, FIRST, HALF) == old_first_half  # the booting half is never written
        if k <= table[0]:
            assert boot_half(s.disk) == 0, f"switched although killed at write {k}"
            assert s.slot_status("bootloader.0").get("status") == "pending"
        if stype == "boot-gpt-switch":
            copies = gpt_copies(s.disk)
            assert any(valid for valid, _ in copies), (k, copies)
            for valid, first_lba in copies:
                if valid and first_lba == SECOND // 512:
                    assert half_holds(s.disk, SECOND, images["boot1"])
                elif valid:
                    assert first_lba == FIRST // 512
        else:
            sfdisk_verify(s.disk)
        # A new install switches to whichever half is not booting now.
        s.install(b)
        assert half_holds(s.disk, (FIRST, SECOND)[boot_half(s.disk)], images["boot1"])
        sfdisk_verify(s.disk)
        if stype == "boot-gpt-switch":
            sgdisk_verify(s.disk)


def test_kill_fallback_keeps_one_copy(tmp_path, pki, bundle, images):
    """Killed at any header write and at the first and last body write of
    each copy: a half whose header is set holds a complete image (the old
    or the new one), and at least one such half exists."""
    def prepared(root):
        s = make_system(root, pki, "boot-raw-fallback")
        for start in (FIRST, SECOND):
            write_at(s.disk, start, images["boot2"] + bytes(HALF - len(images["boot2"])))  # an earlier install
        return s

    cal = prepared(tmp_path / "cal")
    b = boot_bundle(bundle, images, "boot1")
    writes = traced_pwrites(cal, b)
    points = {i + 1 for _, i in header_writes(writes)}
    for start in (FIRST, SECOND):
        body = [i + 1 for i, (off, n) in enumerate(writes) if start + 512 <= off < start + IMG_SIZE]
        points |= {body[0], body[-1]}
    assert len(points) >= 8
    for k in sorted(points):
        s = prepared(tmp_path / f"kill{k}")
        killed_install(s, b, k)
        complete = 0
        for start in (FIRST, SECOND):
            header = read_at(s.disk, start, 512)
            if header.strip(b"\0") == b"":
                continue
            assert half_holds(s.disk, start, images["boot1"]) or half_holds(s.disk, start, images["boot2"]), \
                f"kill at write {k}: half at {start} has a header but not a whole image"
            complete += 1
        assert complete >= 1, f"kill at write {k} left no complete copy"


# ---- interop with Debian's rauc 1.8 ----

def rauc_install(s, bundle_path, override="A"):
    """`rauc install` through `rauc service` on a private session bus."""
    bus = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"], stdout=subprocess.PIPE,
                           text=True)
    service = None
    try:
        env = {**os.environ, "DBUS_SESSION_BUS_ADDRESS": bus.stdout.readline().strip(),
               "DBUS_STARTER_BUS_TYPE": "session"}
        s.mnt.mkdir(exist_ok=True)
        log = open(s.root / "rauc-service.log", "w")
        service = subprocess.Popen(["rauc", f"--conf={s.conf}", "service", f"--override-boot-slot={override}"],
                                   env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while subprocess.run(["rauc", "status"], env=env, capture_output=True).returncode != 0:
            assert service.poll() is None and time.time() < deadline, (s.root / "rauc-service.log").read_text()
            time.sleep(0.1)
        r = subprocess.run(["rauc", "install", str(bundle_path)], env=env, capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr + (s.root / "rauc-service.log").read_text()
    finally:
        if service:
            service.terminate()
            service.wait(10)
        bus.terminate()
        bus.wait(10)


@pytest.fixture
def loop_devices():
    devs = []

    def attach(path):
        dev = subprocess.run(["losetup", "--find", "--show", str(path)], capture_output=True, text=True,
                             check=True).stdout.strip()
        devs.append(dev)
        return dev

    yield attach
    for dev in devs:
        subprocess.run(["losetup", "-d", dev], check=False)


@pytest.mark.parametrize("stype", ["boot-mbr-switch", "boot-gpt-switch", "boot-raw-fallback"])
def test_same_bytes_as_rauc(tmp_path, pki, bundle, images, loop_devices, stype):
    """The same (plain) bundle, installed by rota into one disk and by rauc
    1.8 into a copy of it, twice (switch and switch back): byte-identical
    disks. RAUC 1.8's boot-mbr-switch needs a block device (it asks the
    device for its size), so both MBR disks sit on loop devices."""
    b1 = boot_bundle(bundle, images, "boot1", fmt="plain", version="1")
    b2 = boot_bundle(bundle, images, "boot2", fmt="plain", version="2")
    systems = {}
    for who in ("rota", "rauc"):
        s = make_system(tmp_path / who, pki, stype)
        if stype == "boot-mbr-switch":
            write_boot_conf(s, loop_devices(s.disk), stype)
        systems[who] = s
    assert systems["rota"].disk.read_bytes() == systems["rauc"].disk.read_bytes()
    for b, booted in ((b1, "A"), (b2, "B")):
        systems["rota"].boot(booted)
        systems["rota"].install(b)
        rauc_install(systems["rauc"], b, override=booted)
        ours, theirs = systems["rota"].disk.read_bytes(), systems["rauc"].disk.read_bytes()
        assert ours != make_disk(tmp_path / "fresh.img", TABLES.get(stype)).read_bytes()
        diff = next((i for i in range(len(ours)) if ours[i] != theirs[i]), None) if ours != theirs else None
        assert diff is None, f"disks differ first at byte {diff} after installing {b.name}"
    if stype != "boot-raw-fallback":
        assert boot_half(systems["rota"].disk) == 0 and half_holds(systems["rota"].disk, FIRST, images["boot2"])


@pytest.mark.parametrize("stype", ["boot-gpt-switch", "boot-raw-fallback"])
def test_write_slot_same_bytes_as_rauc(tmp_path, pki, images, stype):
    """`rota write-slot` and `rauc write-slot` on two copies of a disk file."""
    img = tmp_path / "bootloader.img"
    disks = {}
    for who in ("rota", "rauc"):
        s = make_system(tmp_path / who, pki, stype)
        disks[who] = s
    for data in (images["boot1"], images["boot2"]):
        img.write_bytes(data)
        disks["rota"].rota("write-slot", "bootloader.0", img)
        r = subprocess.run(["rauc", f"--conf={disks['rauc'].conf}", "write-slot", "bootloader.0", str(img)],
                           capture_output=True, text=True, env={**os.environ, "RAUC_TEST_CMDLINE": "rauc.slot=A"})
        assert r.returncode == 0, r.stdout + r.stderr
        assert disks["rota"].disk.read_bytes() == disks["rauc"].disk.read_bytes()
