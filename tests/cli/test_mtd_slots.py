"""Installs into slots written by mtd-utils tools: nand (flash_erase +
nandwrite), nor (flashcp --erase-all), ubivol and ubifs (ubiupdatevol).
This machine has no MTD or UBI devices, so scripted stand-ins come first on
PATH: each checks its exact arguments, logs its call, and applies what it
read to a file-backed "device" (flash_erase fills it with 0xff), keeping the
bytes it received next to it (<device>.stdin). The real tools must still be
installed: a device needs them, and the argument lists follow their usage."""
import hashlib
import os
import pathlib
import shutil
import textwrap

import pytest

from system_fixture import random_image, parse_keyfile
from system_fixture import bundle, system  # noqa: F401 (fixtures)

IMG_SIZE = 300 * 1024  # more than a pipe holds: a tool that quits early breaks the pipe
DEV_SIZE = 1024 * 1024
TOOLS = ("flash_erase", "nandwrite", "flashcp", "ubiupdatevol")


def sha256(data):
    return hashlib.sha256(data).hexdigest()


# Each stand-in: log the call, fail on request (MTD_FAIL=<tool>: reads a
# little, complains on two stderr lines, exits 1), insist on its exact
# argument list (MTD_EXPECT_<tool>), then act on the device file.
PRELUDE = """\
#!/bin/sh
tool=$(basename "$0")
echo "$tool $*" >> "$MTD_LOG"
if [ "$MTD_FAIL" = "$tool" ]; then
  head -c 100 > /dev/null
  printf '%s: error!: cannot write to device\\n           error 5 (Input/output error)\\n' "$tool" >&2
  exit 1
fi
eval expected=\\"\\$MTD_EXPECT_$tool\\"
if [ "$*" != "$expected" ]; then
  echo "$tool: unexpected arguments: '$*' (expected '$expected')" >&2
  exit 2
fi
"""

STANDINS = {
    # flash_erase --quiet DEV 0 0: the whole partition becomes 0xff
    "flash_erase": """\
size=$(stat -c %s "$2")
head -c "$size" /dev/zero | tr '\\0' '\\377' | dd of="$2" conv=notrunc status=none
""",
    # nandwrite --pad --quiet DEV -: only onto erased flash
    "nandwrite": """\
[ "$(head -c 1 "$3" | od -An -tx1 | tr -d ' ')" = ff ] || { echo "nandwrite: not erased" >&2; exit 3; }
cat > "$3.stdin"
dd if="$3.stdin" of="$3" conv=notrunc status=none
""",
    # flashcp --erase-all FILE DEV: FILE must be a real file (flashcp fstat()s it
    # for its size); it erases the partition itself, then writes
    "flashcp": """\
[ -f "$2" ] || { echo "flashcp: $2 is not a regular file" >&2; exit 3; }
[ "$(stat -L -c %s "$2")" = "$MTD_IMAGE_SIZE" ] || { echo "flashcp: wrong size" >&2; exit 3; }
size=$(stat -c %s "$3")
head -c "$size" /dev/zero | tr '\\0' '\\377' | dd of="$3" conv=notrunc status=none
cat "$2" > "$3.stdin"
dd if="$3.stdin" of="$3" conv=notrunc status=none
""",
    # ubiupdatevol --size=N DEV -: exactly N bytes, then the volume holds them
    "ubiupdatevol": """\
cat > "$2.stdin"
[ "$(stat -c %s "$2.stdin")" = "${1#--size=}" ] || { echo "ubiupdatevol: short input" >&2; exit 3; }
dd if="$2.stdin" of="$2" conv=notrunc status=none
""",
}

MOUNT_STANDIN = """\
#!/bin/sh
echo "$(basename "$0") $*" >> "$MTD_LOG"
"""


@pytest.fixture
def tools(tmp_path):
    d = tmp_path / "mtd-bin"
    d.mkdir()
    for name, body in STANDINS.items():
        (d / name).write_text(PRELUDE + body)
        (d / name).chmod(0o755)
    for name in ("mount", "umount"):
        (d / name).write_text(MOUNT_STANDIN)
        (d / name).chmod(0o755)
    return d


def mtd_system(system, slot_type):
    system.write_conf(slots={
        "rootfs.0": {"device": system.slot_file("rootfs.0", DEV_SIZE), "bootname": "A", "type": slot_type},
        "rootfs.1": {"device": system.slot_file("rootfs.1", DEV_SIZE), "bootname": "B", "type": slot_type}})
    return system.device("rootfs.1")


def tool_env(tools, tmp_path, dev, image, **extra):
    log = tmp_path / "mtd.log"
    env = {"PATH": f"{tools}:{os.environ['PATH']}", "MTD_LOG": str(log), "MTD_IMAGE_SIZE": str(len(image)),
           "MTD_EXPECT_flash_erase": f"--quiet {dev} 0 0",
           "MTD_EXPECT_nandwrite": f"--pad --quiet {dev} -",
           "MTD_EXPECT_flashcp": f"--erase-all /dev/stdin {dev}",
           "MTD_EXPECT_ubiupdatevol": f"--size={len(image)} {dev} -"}
    env.update(extra)
    return env, log


def calls(log):
    return log.read_text().splitlines() if log.exists() else []


def test_mtd_utils_installed():
    # the real tools a device runs; CI installs them (scripts/install-deps.sh)
    path = os.environ["PATH"] + ":/usr/sbin:/sbin"
    missing = [t for t in TOOLS if not shutil.which(t, path=path)]
    assert not missing, f"mtd-utils tools missing: {missing}"


# slot type, image file name (its extension gives the image type), expected tool calls
CASES = [
    ("nand", "rootfs.img", ["flash_erase --quiet {dev} 0 0", "nandwrite --pad --quiet {dev} -"]),
    ("nor", "rootfs.img", ["flashcp --erase-all /dev/stdin {dev}"]),
    ("ubivol", "rootfs.img", ["ubiupdatevol --size={size} {dev} -"]),
    ("ubivol", "rootfs.squashfs", ["ubiupdatevol --size={size} {dev} -"]),
    ("ubivol", "rootfs.ubifs", ["ubiupdatevol --size={size} {dev} -"]),
    ("ubifs", "rootfs.img", ["ubiupdatevol --size={size} {dev} -"]),
    ("ubifs", "rootfs.ubifs", ["ubiupdatevol --size={size} {dev} -"]),
]


@pytest.mark.parametrize("slot_type,filename,expected", CASES, ids=[f"{c[1]}->{c[0]}" for c in CASES])
def test_install_writes_image_with_tools(system, bundle, tools, tmp_path, slot_type, filename, expected):
    dev = mtd_system(system, slot_type)
    image = random_image(tmp_path / "image", IMG_SIZE, 7)
    env, log = tool_env(tools, tmp_path, dev, image)
    system.install(bundle({"rootfs": (filename, image)}), env=env)
    assert calls(log) == [c.format(dev=dev, size=IMG_SIZE) for c in expected]  # erase before write
    # the tool got exactly the image, and the device holds it
    assert pathlib.Path(f"{dev}.stdin").read_bytes() == image
    content = dev.read_bytes()
    assert content[:IMG_SIZE] == image
    erased = b"\xff" if slot_type in ("nand", "nor") else b"\0"
    assert content[IMG_SIZE:] == erased * (DEV_SIZE - IMG_SIZE)
    assert system.device("rootfs.0").read_bytes() == b"\0" * DEV_SIZE  # the booted slot untouched
    st = system.slot_status("rootfs.1")
    assert st["status"] == "ok" and st["sha256"] == sha256(image)
    assert system.primary() == "B"


FAIL_CASES = [("nand", "flash_erase"), ("nand", "nandwrite"), ("nor", "flashcp"),
              ("ubivol", "ubiupdatevol"), ("ubifs", "ubiupdatevol")]


@pytest.mark.parametrize("slot_type,tool", FAIL_CASES, ids=[f"{c[1]}-on-{c[0]}" for c in FAIL_CASES])
def test_failing_tool_fails_install(system, bundle, tools, tmp_path, slot_type, tool):
    dev = mtd_system(system, slot_type)
    image = random_image(tmp_path / "image", IMG_SIZE, 8)
    env, log = tool_env(tools, tmp_path, dev, image, MTD_FAIL=tool)
    r = system.fails("install", bundle({"rootfs": ("rootfs.img", image)}), env=env,
                     match="Failed updating slot rootfs.1: ")
    line = r.error_line()
    # one line naming the slot (above), the tool, its exit status and the tail of its stderr
    assert f"{tool} failed (" in line and "exited with code 1" in line, line
    assert line.endswith("error 5 (Input/output error)"), line
    assert calls(log)[-1].startswith(tool)  # nothing ran after the failing tool
    assert system.primary() == "A"
    assert system.grub()["B_OK"] == "0"  # marked bad before writing, and never marked good
    assert system.slot_status("rootfs.1")["status"] == "failed"


HOOK = """\
#!/bin/sh
echo "hook $1" >> "$MTD_LOG"
env > "$HOOK_OUT/$1.env"
"""


@pytest.mark.parametrize("slot_type", ["nand", "nor", "ubivol"])
def test_slot_hooks_around_tools(system, bundle, tools, tmp_path, slot_type):
    dev = mtd_system(system, slot_type)
    image = random_image(tmp_path / "image", IMG_SIZE, 9)
    out = tmp_path / "hookout"
    out.mkdir()
    env, log = tool_env(tools, tmp_path, dev, image, HOOK_OUT=str(out))
    b = bundle({"rootfs": ("rootfs.img", image)}, hooks_file="hook.sh", files={"hook.sh": (HOOK, 0o755)},
               image_keys={"rootfs": "hooks=pre-install;post-install"})
    system.install(b, env=env)
    log_lines = calls(log)
    assert log_lines[0] == "hook slot-pre-install" and log_lines[-1] == "hook slot-post-install"
    assert [l.split()[0] for l in log_lines[1:-1]] == (
        {"ubivol": ["ubiupdatevol"], "nand": ["flash_erase", "nandwrite"], "nor": ["flashcp"]}[slot_type])
    for hook in ("slot-pre-install", "slot-post-install"):
        henv = dict(l.split("=", 1) for l in (out / f"{hook}.env").read_text().splitlines() if "=" in l)
        assert henv["RAUC_SLOT_TYPE"] == slot_type
        assert henv["RAUC_SLOT_DEVICE"] == str(dev)
        assert henv["RAUC_SLOT_NAME"] == "rootfs.1"
        assert henv["RAUC_IMAGE_DIGEST"] == sha256(image)
        assert henv["RAUC_IMAGE_SIZE"] == str(IMG_SIZE)
        assert "RAUC_SLOT_MOUNT_POINT" not in henv  # these slot types are not mounted
    assert dev.read_bytes()[:IMG_SIZE] == image
    assert system.primary() == "B"


def test_ubifs_slot_hooks_run_mounted(system, bundle, tools, tmp_path):
    # as RAUC does, a ubifs slot is mounted for its hooks (mount/umount are stand-ins too)
    dev = mtd_system(system, "ubifs")
    image = random_image(tmp_path / "image", IMG_SIZE, 10)
    out = tmp_path / "hookout"
    out.mkdir()
    env, log = tool_env(tools, tmp_path, dev, image, HOOK_OUT=str(out))
    b = bundle({"rootfs": ("rootfs.ubifs", image)}, hooks_file="hook.sh", files={"hook.sh": (HOOK, 0o755)},
               image_keys={"rootfs": "hooks=pre-install;post-install"})
    system.install(b, env=env)
    mp = system.mnt / "rootfs.1"
    mount = f"mount -t ubifs -o loop {dev} {mp}"  # -o loop: the test's device is a file
    assert calls(log) == [mount, "hook slot-pre-install", f"umount {mp}",
                          f"ubiupdatevol --size={IMG_SIZE} {dev} -",
                          mount, "hook slot-post-install", f"umount {mp}"]
    henv = dict(l.split("=", 1) for l in (out / "slot-post-install.env").read_text().splitlines() if "=" in l)
    assert henv["RAUC_SLOT_TYPE"] == "ubifs" and henv["RAUC_SLOT_MOUNT_POINT"] == str(mp)
    assert pathlib.Path(f"{dev}.stdin").read_bytes() == image


INSTALL_HOOK = """\
#!/bin/sh
[ "$1" = slot-install ] || exit 1
env > "$HOOK_OUT/slot-install.env"
printf 'HOOKED' > "$RAUC_SLOT_DEVICE.stdin"
cat "$RAUC_IMAGE_NAME" >> "$RAUC_SLOT_DEVICE.stdin"
"""


def test_install_hook_replaces_tools(system, bundle, tools, tmp_path):
    dev = mtd_system(system, "nand")
    image = random_image(tmp_path / "image", IMG_SIZE, 11)
    out = tmp_path / "hookout"
    out.mkdir()
    env, log = tool_env(tools, tmp_path, dev, image, HOOK_OUT=str(out))
    b = bundle({"rootfs": ("rootfs.img", image)}, hooks_file="hook.sh", files={"hook.sh": (INSTALL_HOOK, 0o755)},
               image_keys={"rootfs": "hooks=install"})
    system.install(b, env=env)
    assert calls(log) == []  # the hook did the writing, no tool ran
    assert pathlib.Path(f"{dev}.stdin").read_bytes() == b"HOOKED" + image
    henv = dict(l.split("=", 1) for l in (out / "slot-install.env").read_text().splitlines() if "=" in l)
    assert henv["RAUC_SLOT_TYPE"] == "nand" and henv["RAUC_SLOT_DEVICE"] == str(dev)
    assert system.primary() == "B"


FULL_HANDLER = """\
#!/bin/sh
env > "$HOOK_OUT/env"
echo "<< handler custom done"
"""


def test_full_custom_handler_sees_mtd_slots(system, bundle, tools, tmp_path):
    dev = mtd_system(system, "ubivol")
    image = random_image(tmp_path / "image", IMG_SIZE, 12)
    out = tmp_path / "hookout"
    out.mkdir()
    env, log = tool_env(tools, tmp_path, dev, image, HOOK_OUT=str(out))
    b = bundle({"rootfs": ("rootfs.img", image)}, files={"handler.sh": (FULL_HANDLER, 0o755)},
               extra="[handler]\nfilename=handler.sh\n")
    before = system.grub()
    r = system.install(b, env=env)
    assert "Handler status: custom done" in r.stdout
    henv = dict(l.split("=", 1) for l in (out / "env").read_text().splitlines() if "=" in l)
    t = henv["RAUC_TARGET_SLOTS"]
    assert henv[f"RAUC_SLOT_NAME_{t}"] == "rootfs.1"
    assert henv[f"RAUC_SLOT_TYPE_{t}"] == "ubivol"
    assert henv[f"RAUC_SLOT_DEVICE_{t}"] == str(dev)
    assert calls(log) == [] and system.grub() == before  # rota neither wrote nor marked anything


def test_unsupported_image_type_refused_before_writing(system, bundle, tools, tmp_path):
    dev = mtd_system(system, "nand")
    image = random_image(tmp_path / "image", IMG_SIZE, 13)
    env, log = tool_env(tools, tmp_path, dev, image)
    before = system.grub()
    system.fails("install", bundle({"rootfs": ("rootfs.squashfs", image)}), env=env,
                 match="Unsupported image type 'squashfs' for slot type 'nand'")
    assert calls(log) == [] and system.grub() == before


def test_write_slot_uses_tools(system, tools, tmp_path):
    dev = mtd_system(system, "nand")
    image = random_image(tmp_path / "raw.img", IMG_SIZE, 14)
    env, log = tool_env(tools, tmp_path, dev, image)
    r = system.rota("write-slot", "rootfs.1", tmp_path / "raw.img", env=env)
    assert "Slot written successfully" in r.stdout
    assert calls(log) == [f"flash_erase --quiet {dev} 0 0", f"nandwrite --pad --quiet {dev} -"]
    assert dev.read_bytes()[:IMG_SIZE] == image
    r = system.fails("write-slot", "rootfs.1", tmp_path / "raw.img", env={**env, "MTD_FAIL": "nandwrite"},
                     match="Failed writing slot rootfs.1: nandwrite failed (")
    assert r.error_line().endswith("error 5 (Input/output error)")
