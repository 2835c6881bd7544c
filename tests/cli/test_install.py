"""End-to-end `rota install` / `status` / `mark-*` / `write-slot` on
file-backed A/B slots with the real grub-editenv (and fw_setenv for U-Boot).
Every test checks an effect that a broken install would not have: slot bytes,
bootloader variables, status file keys, hook and handler environments."""
import hashlib
import io
import json
import os
import pathlib
import shlex
import shutil
import subprocess
import tarfile

import pytest

from conftest import run
from system_fixture import COMPATIBLE, SLOT_SIZE, parse_keyfile, random_image
from system_fixture import bundle, system  # noqa: F401 (fixtures)

IMG_SIZE = 300 * 1024


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def head(path, n):
    with open(path, "rb") as f:
        return f.read(n)


@pytest.fixture
def img(tmp_path):
    return random_image(tmp_path / "rootfs.img", IMG_SIZE, 11)


def keyvals(text):
    """KEY=value lines (env dumps, shell status output)."""
    out = {}
    for line in text.splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            out[k] = v
    return out


def shell_vars(text):
    out = {}
    for line in text.splitlines():
        k, v = line.split("=", 1)
        out[k] = shlex.split(v)[0] if v else ""
    return out


def spki(cert):
    pub = subprocess.run(["openssl", "x509", "-in", str(cert), "-pubkey", "-noout"], capture_output=True,
                         check=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub, capture_output=True,
                         check=True).stdout
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


# ---- the basic A/B cycle ----

def test_install_writes_other_slot_and_activates_it(system, bundle, img):
    b = bundle({"rootfs": ("rootfs.img", img)}, version="1.0")
    r = system.install(b)
    assert "Installing `" in r.stdout and "succeeded" in r.stdout
    assert "Checking slot rootfs.1 (B) done." in r.stdout
    assert r.stdout.splitlines()[-2].startswith("100% Installing done.")
    # B holds the image, A is untouched
    assert head(system.device("rootfs.1"), IMG_SIZE) == img
    assert system.device("rootfs.1").read_bytes()[IMG_SIZE:] == b"\0" * (SLOT_SIZE - IMG_SIZE)
    assert system.device("rootfs.0").read_bytes() == b"\0" * SLOT_SIZE
    env = system.grub()
    assert env["ORDER"] == "B A"
    assert (env["B_OK"], env["B_TRY"]) == ("1", "0")
    assert (env["A_OK"], env["A_TRY"]) == ("1", "0")
    # central status
    st = system.slot_status("rootfs.1")
    assert st["status"] == "ok"
    assert st["sha256"] == sha256(img)
    assert st["size"] == str(IMG_SIZE)
    assert st["bundle.compatible"] == COMPATIBLE
    assert st["bundle.version"] == "1.0"
    info = json.loads(run("info", f"--keyring={system.pki / 'keyring.pem'}", "--output-format=json", b).stdout)
    assert st["bundle.hash"] == info["hash"]
    assert st["installed.count"] == "1" and st["activated.count"] == "1"
    assert len(st["installed.transaction"]) == 36
    assert st["installed.timestamp"].endswith("Z")
    assert not system.status().has_section("slot.rootfs.0")

    # json
    j = json.loads(system.rota("status", "--detailed", "--output-format=json").stdout)
    assert j["compatible"] == COMPATIBLE and j["booted"] == "A" and j["boot_primary"] == "rootfs.1"
    slots = {k: v for s in j["slots"] for k, v in s.items()}
    assert slots["rootfs.0"]["state"] == "booted" and slots["rootfs.1"]["state"] == "inactive"
    s1 = slots["rootfs.1"]["slot_status"]
    assert s1["status"] == "ok"
    assert s1["checksum"] == {"sha256": sha256(img), "size": IMG_SIZE}
    assert s1["bundle"]["version"] == "1.0" and s1["bundle"]["hash"] == info["hash"]
    assert s1["installed"]["count"] == 1 and s1["activated"]["count"] == 1
    # without --detailed there is no slot_status
    j = json.loads(system.rota("status", "--output-format=json").stdout)
    assert all("slot_status" not in v for s in j["slots"] for v in s.values())
    # shell
    sh = shell_vars(system.rota("status", "--detailed", "--output-format=shell").stdout)
    assert sh["RAUC_BOOT_PRIMARY"] == "rootfs.1"
    assert sh["RAUC_SYSTEM_BOOTED_BOOTNAME"] == "A"
    n = sh["RAUC_SYSTEM_SLOTS"].split().index("rootfs.1") + 1
    assert sh[f"RAUC_SLOT_STATUS_CHECKSUM_SHA256_{n}"] == sha256(img)
    assert sh[f"RAUC_SLOT_STATUS_STATUS_{n}"] == "ok"
    assert sh[f"RAUC_SLOT_STATUS_INSTALLED_COUNT_{n}"] == "1"
    assert sh[f"RAUC_SLOT_BOOT_STATUS_{n}"] == "good"
    # readable
    txt = system.rota("status", "--detailed").stdout
    assert "Activated: rootfs.1 (B)" in txt
    assert f"sha256={sha256(img)}" in txt and "status=ok" in txt
    assert "Booted from:    rootfs.0 (A)" in txt


def test_activate_installed_false_writes_but_does_not_activate(system, bundle, img):
    """activate-installed=false: the slot is written and recorded, but it is
    left marked bad (as before the write) and the booted slot stays primary."""
    system.write_conf(system_extra="activate-installed=false")
    b = bundle({"rootfs": ("rootfs.img", img)})
    system.install(b)
    assert head(system.device("rootfs.1"), IMG_SIZE) == img
    env = system.grub()
    assert env["ORDER"] == "A B" and env["B_OK"] == "0", env
    assert system.primary() == "A"
    st = system.slot_status("rootfs.1")
    assert st["status"] == "ok" and st["sha256"] == sha256(img)
    assert "activated.count" not in st


def test_install_refuses_a_mounted_target(system, bundle, img, tmp_path):
    """A target slot that is mounted (here: its image file, loop-mounted) is
    refused before anything is written or marked."""
    if os.geteuid() != 0 or not shutil.which("mkfs.ext4"):
        pytest.skip("needs root and mkfs.ext4")
    dev = system.device("rootfs.1")
    subprocess.run(["mkfs.ext4", "-q", "-F", str(dev)], check=True, capture_output=True)
    before = dev.read_bytes()
    mnt = tmp_path / "mounted"
    mnt.mkdir()
    r = subprocess.run(["mount", "-o", "loop,ro", str(dev), str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot loop-mount: {r.stderr.strip()}")
    try:
        b = bundle({"rootfs": ("rootfs.img", img)})
        system.fails("install", b, match=f"Destination device '{dev}' already mounted")
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
    assert dev.read_bytes() == before
    env = system.grub()
    assert env["ORDER"] == "A B" and env["B_OK"] == "1"


def test_reboot_into_b_then_install_goes_to_a(system, bundle, img, tmp_path):
    system.install(bundle({"rootfs": ("rootfs.img", img)}, version="1.0"))
    system.boot("B")
    img2 = random_image(tmp_path / "v2.img", IMG_SIZE - 4096, 12)
    r = system.install(bundle({"rootfs": ("rootfs.img", img2)}, version="2.0"))
    assert "Checking slot rootfs.0 (A)" in r.stdout
    assert head(system.device("rootfs.0"), len(img2)) == img2
    assert head(system.device("rootfs.1"), IMG_SIZE) == img  # the booted slot is untouched
    env = system.grub()
    assert env["ORDER"] == "A B" and env["A_OK"] == "1" and env["A_TRY"] == "0"
    assert system.slot_status("rootfs.0")["bundle.version"] == "2.0"
    assert system.slot_status("rootfs.1")["bundle.version"] == "1.0"
    j = json.loads(system.rota("status", "--output-format=json").stdout)
    assert j["booted"] == "B" and j["boot_primary"] == "rootfs.0"


def test_override_boot_slot(system, bundle, img):
    # the command line says A, the override says B: A is the target
    system.install(bundle({"rootfs": ("rootfs.img", img)}), "--override-boot-slot=B")
    assert head(system.device("rootfs.0"), IMG_SIZE) == img
    assert set(system.device("rootfs.1").read_bytes()) == {0}
    assert system.grub()["ORDER"] == "A B"
    assert system.slot_status("rootfs.0")["status"] == "ok"


def test_file_uri_sources(system, bundle, img, tmp_path):
    """file:// URIs as the spec has them: %-escapes decoded, a host part refused."""
    b = bundle({"rootfs": ("rootfs.img", img)})
    spaced = tmp_path / "my bundle.raucb"
    shutil.copy(b, spaced)
    system.fails("install", "file://host" + str(spaced), match="file URI with hostname detected")
    assert system.grub()["ORDER"] == "A B"
    system.install(spaced.as_uri())  # file:///…/my%20bundle.raucb
    assert head(system.device("rootfs.1"), IMG_SIZE) == img


def test_transaction_id_recorded(system, bundle, img):
    txn = "0b5c8e4a-1111-4222-8333-123456789abc"
    system.install(bundle({"rootfs": ("rootfs.img", img)}), f"--transaction-id={txn}")
    assert system.slot_status("rootfs.1")["installed.transaction"] == txn


# ---- marking ----

def test_prevent_late_fallback_marks_the_other_slot_bad(system):
    """prevent-late-fallback: confirming the booted slot (mark-good booted)
    marks the other slot bad as well, so a later boot failure cannot fall
    back to the older system; marking another slot good does not."""
    system.write_conf(system_extra="prevent-late-fallback=true")
    system.rota("status", "mark-good", "other")
    assert system.grub()["B_OK"] == "1"
    r = system.rota("status", "mark-good")  # booted (A)
    assert "marked slot(s) rootfs.0 as good" in r.stdout
    env = system.grub()
    assert (env["A_OK"], env["A_TRY"]) == ("1", "0") and env["B_OK"] == "0", env
    assert system.primary() == "A"
    # without the option, the other slot stays a fallback
    system.reset_grub()
    system.write_conf()
    system.rota("status", "mark-good")
    assert system.grub()["B_OK"] == "1"


def test_mark_commands(system):
    r = system.rota("status", "mark-bad", "other")
    assert "marked slot(s) rootfs.1 as bad" in r.stdout
    env = system.grub()
    assert (env["B_OK"], env["B_TRY"]) == ("0", "0") and env["ORDER"] == "A B"

    r = system.rota("mark-good", "other")
    assert "marked slot(s) rootfs.1 as good" in r.stdout
    assert (system.grub()["B_OK"], system.grub()["B_TRY"]) == ("1", "0")

    r = system.rota("status", "mark-active", "rootfs.1")
    assert "marked slot(s) rootfs.1 as active" in r.stdout
    assert system.grub()["ORDER"] == "B A" and system.primary() == "B"
    st = system.slot_status("rootfs.1")
    assert st["activated.count"] == "1" and st["activated.timestamp"].endswith("Z")

    r = system.rota("mark-active", "booted")
    assert "marked slot(s) rootfs.0 as active" in r.stdout
    assert system.grub()["ORDER"] == "A B" and system.primary() == "A"

    # the booted slot was tried once (TRY=1): mark-good booted confirms it
    subprocess.run(["grub-editenv", str(system.grubenv), "set", "A_TRY=1"], check=True)
    assert system.primary() == "B"
    r = system.rota("status", "mark-good")  # booted is the default
    assert "marked slot(s) rootfs.0 as good" in r.stdout
    assert system.grub()["A_TRY"] == "0" and system.primary() == "A"

    r = system.rota("mark-bad", "booted")
    assert "marked slot(s) rootfs.0 as bad" in r.stdout
    assert system.grub()["A_OK"] == "0" and system.primary() == "B"

    system.fails("status", "mark-good", "rootfs.7", match="rootfs.7")
    system.fails("status", "mark-good", "nodots", match="Invalid slot name format: 'nodots'")
    system.fails("status", "mark-sideways", match="sideways")


# ---- refusals before anything is written ----

def assert_untouched(system, env_before):
    assert system.grub() == env_before
    assert system.device("rootfs.1").read_bytes() == b"\0" * SLOT_SIZE
    assert system.primary() == "A"


def test_compatible_mismatch_rejected(system, bundle, img):
    b = bundle({"rootfs": ("rootfs.img", img)}, compatible="other-board")
    before = system.grub()
    r = system.fails("install", b, match="Compatible mismatch: Expected 'rota-it' but bundle manifest has 'other-board'")
    assert_untouched(system, before)
    assert "failed" in r.stderr  # "Installing `…` failed"
    assert not system.status().has_section("slot.rootfs.1") if (system.data / "central.raucs").exists() else True
    # --ignore-compatible installs it
    system.install(b, "--ignore-compatible")
    assert head(system.device("rootfs.1"), IMG_SIZE) == img
    assert system.primary() == "B"
    assert system.slot_status("rootfs.1")["bundle.compatible"] == "other-board"


def test_min_bundle_version(system, bundle, img):
    system.write_conf(system_extra="min-bundle-version=2.0")
    old = bundle({"rootfs": ("rootfs.img", img)}, version="1.0")
    before = system.grub()
    system.fails("install", old, match="Version mismatch: Expected at least '2.0' but bundle manifest has '1.0'")
    assert_untouched(system, before)
    noversion = bundle({"rootfs": ("rootfs.img", img)}, version=None)
    system.fails("install", noversion, match="Version mismatch: Expected at least '2.0' but bundle manifest has no version")
    assert_untouched(system, before)
    system.install(old, "--ignore-version-limit")
    assert head(system.device("rootfs.1"), IMG_SIZE) == img
    # a newer bundle passes without the flag
    system.boot("B")
    system.install(bundle({"rootfs": ("rootfs.img", img)}, version="2.0.1"))
    assert head(system.device("rootfs.0"), IMG_SIZE) == img


def test_bundle_formats_refuses_plain(system, bundle, img):
    system.write_conf(system_extra="bundle-formats=-plain")
    plain = bundle({"rootfs": ("rootfs.img", img)}, fmt="plain")
    before = system.grub()
    r = system.fails("install", plain, match="not allowed")
    assert "plain" in r.error_line()
    assert_untouched(system, before)
    system.install(bundle({"rootfs": ("rootfs.img", img)}, fmt="verity"))
    assert head(system.device("rootfs.1"), IMG_SIZE) == img


def test_plain_bundle_installs(system, bundle, img):
    system.install(bundle({"rootfs": ("rootfs.img", img)}, fmt="plain"))
    assert head(system.device("rootfs.1"), IMG_SIZE) == img
    assert system.primary() == "B"


def test_require_manifest_hash(system, bundle, img):
    b = bundle({"rootfs": ("rootfs.img", img)})
    info = json.loads(run("info", f"--keyring={system.pki / 'keyring.pem'}", "--output-format=json", b).stdout)
    before = system.grub()
    wrong = "0" * 64
    system.fails("install", f"--require-manifest-hash={wrong}", b,
                 match=f"Refusing to install bundle with unexpected hash (expected {wrong}, got {info['hash']})")
    assert_untouched(system, before)
    plain = bundle({"rootfs": ("rootfs.img", img)}, fmt="plain")
    system.fails("install", f"--require-manifest-hash={wrong}", plain,
                 match="Refusing to install plain bundle when using require-manifest-hash")
    assert_untouched(system, before)
    system.install(b, f"--require-manifest-hash={info['hash']}")
    assert head(system.device("rootfs.1"), IMG_SIZE) == img


# ---- hooks from the bundle ----

INSTALL_CHECK_HOOK = """\
#!/bin/sh
case "$1" in
install-check)
    env > "$HOOK_OUT/install-check.env"
    if [ "$HOOK_MODE" = accept ]; then exit 0; fi
    if [ "$HOOK_MODE" = fail ]; then echo "cannot tell" >&2; exit 3; fi
    echo "first line" >&2
    echo "not for this board" >&2
    exit 10
    ;;
esac
exit 1
"""


def test_install_check_hook(system, bundle, img, tmp_path):
    b = bundle({"rootfs": ("rootfs.img", img)}, compatible="wrong-board",
               files={"hook.sh": (INSTALL_CHECK_HOOK, 0o755)},
               extra="[hooks]\nfilename=hook.sh\nhooks=install-check\n\n[meta.product]\nrelease-name=spring\n")
    out = tmp_path / "hookout"
    out.mkdir()
    before = system.grub()
    system.fails("install", b, env={"HOOK_OUT": str(out), "HOOK_MODE": "reject"},
                 match="Bundle rejected: Hook returned: 'not for this board'")
    assert_untouched(system, before)
    env = keyvals((out / "install-check.env").read_text())
    assert env["RAUC_MF_COMPATIBLE"] == "wrong-board"
    assert env["RAUC_SYSTEM_COMPATIBLE"] == COMPATIBLE
    assert env["RAUC_MF_VERSION"] == "1.0"
    assert env["RAUC_META_PRODUCT_RELEASE_NAME"] == "spring"
    # exit 1-9 is a failure of the hook, not a rejection
    r = system.fails("install", b, env={"HOOK_OUT": str(out), "HOOK_MODE": "fail"},
                     match="Install-check hook failed: failed to run bundle hook: Child process exited with code 3")
    assert "cannot tell" in r.error_line()
    assert_untouched(system, before)
    # exit 0 accepts although the compatible differs
    system.install(b, env={"HOOK_OUT": str(out), "HOOK_MODE": "accept"})
    assert head(system.device("rootfs.1"), IMG_SIZE) == img
    assert system.primary() == "B"


SLOT_HOOK = """\
#!/bin/sh
echo "$1" >> "$HOOK_OUT/order"
env > "$HOOK_OUT/$1.env"
head -c "$RAUC_IMAGE_SIZE" "$RAUC_SLOT_DEVICE" | sha256sum | cut -c1-64 > "$HOOK_OUT/$1.slotsha"
if [ "$HOOK_FAIL" = "$1" ]; then echo "hook says no" >&2; exit 3; fi
exit 0
"""


def test_slot_hooks_environment_and_order(system, bundle, img, tmp_path, pki):
    b = bundle({"rootfs": ("rootfs.img", img)}, hooks_file="hook.sh", files={"hook.sh": (SLOT_HOOK, 0o755)},
               image_keys={"rootfs": "hooks=pre-install;post-install"})
    out = tmp_path / "hookout"
    out.mkdir()
    system.install(b, env={"HOOK_OUT": str(out)})
    assert (out / "order").read_text().split() == ["slot-pre-install", "slot-post-install"]
    # pre ran before the write, post after it
    assert (out / "slot-pre-install.slotsha").read_text().strip() == sha256(b"\0" * IMG_SIZE)
    assert (out / "slot-post-install.slotsha").read_text().strip() == sha256(img)
    expected_spki = " ".join(spki(p) for p in (pki / "signer.cert.pem", pki / "intermediate.pem", pki / "root.pem"))
    for hook in ("slot-pre-install", "slot-post-install"):
        env = keyvals((out / f"{hook}.env").read_text())
        assert env["RAUC_SLOT_NAME"] == "rootfs.1"
        assert env["RAUC_SLOT_CLASS"] == "rootfs"
        assert env["RAUC_SLOT_TYPE"] == "raw"
        assert env["RAUC_SLOT_STATE"] == "inactive"
        assert env["RAUC_SLOT_DEVICE"] == str(system.device("rootfs.1"))
        assert env["RAUC_SLOT_BOOTNAME"] == "B"
        assert env["RAUC_SLOT_PARENT"] == ""
        assert env["RAUC_IMAGE_DIGEST"] == sha256(img)
        assert env["RAUC_IMAGE_CLASS"] == "rootfs"
        assert env["RAUC_IMAGE_SIZE"] == str(IMG_SIZE)
        assert env["RAUC_MOUNT_PREFIX"] == str(system.mnt)
        assert env["RAUC_SYSTEM_COMPATIBLE"] == COMPATIBLE
        assert env["RAUC_BUNDLE_SPKI_HASHES"] == expected_spki
        assert env["RAUC_BUNDLE_MOUNT_POINT"].startswith("/")
        assert "RAUC_TRANSACTION_ID" not in env
    assert system.primary() == "B"


def test_slot_hook_image_name(system, bundle, img, tmp_path):
    b = bundle({"rootfs": ("rootfs.img", img)}, hooks_file="hook.sh", files={"hook.sh": (SLOT_HOOK, 0o755)},
               image_keys={"rootfs": "hooks=pre-install;post-install"})
    out = tmp_path / "hookout"
    out.mkdir()
    system.install(b, env={"HOOK_OUT": str(out)})
    for hook in ("slot-pre-install", "slot-post-install"):
        env = keyvals((out / f"{hook}.env").read_text())
        # the image inside the (stand-in) bundle mount point
        assert env["RAUC_IMAGE_NAME"] == os.path.join(env["RAUC_BUNDLE_MOUNT_POINT"], "rootfs.img")


def test_failing_slot_hook_fails_install(system, bundle, img, tmp_path):
    b = bundle({"rootfs": ("rootfs.img", img)}, hooks_file="hook.sh", files={"hook.sh": (SLOT_HOOK, 0o755)},
               image_keys={"rootfs": "hooks=pre-install;post-install"})
    out = tmp_path / "hookout"
    out.mkdir()
    r = system.fails("install", b, env={"HOOK_OUT": str(out), "HOOK_FAIL": "slot-post-install"},
                     match="Failed updating slot rootfs.1")
    assert "hook says no" in r.error_line()
    assert system.primary() == "A"
    env = system.grub()
    assert env["B_OK"] == "0" and env["ORDER"] == "A B"
    assert system.slot_status("rootfs.1")["status"] == "failed"
    # a failing pre-install hook: nothing written
    system.reset_grub()
    system.device("rootfs.1").write_bytes(b"\0" * SLOT_SIZE)
    system.fails("install", b, env={"HOOK_OUT": str(out), "HOOK_FAIL": "slot-pre-install"},
                 match="Failed updating slot rootfs.1")
    assert system.device("rootfs.1").read_bytes() == b"\0" * SLOT_SIZE
    assert system.primary() == "A" and system.grub()["B_OK"] == "0"


INSTALL_HOOK = """\
#!/bin/sh
[ "$1" = slot-install ] || exit 1
env > "$HOOK_OUT/slot-install.env"
# write the image reversed-in-blocks marker: first a header then the image
printf 'HOOKED' > "$RAUC_SLOT_DEVICE.tmp"
cat "$RAUC_IMAGE_NAME" >> "$RAUC_SLOT_DEVICE.tmp"
dd if="$RAUC_SLOT_DEVICE.tmp" of="$RAUC_SLOT_DEVICE" conv=notrunc status=none
rm "$RAUC_SLOT_DEVICE.tmp"
"""


def test_install_hook_replaces_write(system, bundle, img, tmp_path):
    b = bundle({"rootfs": ("rootfs.img", img)}, hooks_file="hook.sh", files={"hook.sh": (INSTALL_HOOK, 0o755)},
               image_keys={"rootfs": "hooks=install"})
    out = tmp_path / "hookout"
    out.mkdir()
    system.install(b, env={"HOOK_OUT": str(out)})
    data = head(system.device("rootfs.1"), IMG_SIZE + 6)
    assert data == b"HOOKED" + img  # the hook's layout, not rota's copy
    env = keyvals((out / "slot-install.env").read_text())
    assert env["RAUC_SLOT_NAME"] == "rootfs.1" and env["RAUC_IMAGE_DIGEST"] == sha256(img)
    assert system.primary() == "B"
    assert system.slot_status("rootfs.1")["status"] == "ok"


# ---- handlers from system.conf ----

HANDLER = """\
#!/bin/sh
env > "$HOOK_OUT/$(basename "$0").env"
if [ -n "$RAUC_TARGET_SLOTS" ]; then
  for n in $RAUC_TARGET_SLOTS; do
    eval dev=\\$RAUC_SLOT_DEVICE_$n
    head -c 307200 "$dev" | sha256sum | cut -c1-64 > "$HOOK_OUT/$(basename "$0").slotsha"
  done
fi
echo "plain output line"
echo "<< handler working hard"
echo "<< image rootfs.img done"
echo "<< bootloader fine"
echo "<< error something odd"
echo "<< debug some detail"
echo "<< sideways nonsense"
exit 0
"""


def test_pre_and_post_install_handlers(system, bundle, img, tmp_path):
    hdir = tmp_path / "handlers"
    hdir.mkdir()
    for name in ("pre.sh", "post.sh"):
        (hdir / name).write_text(HANDLER)
        (hdir / name).chmod(0o755)
    system.write_conf(sections=f"[handlers]\npre-install={hdir / 'pre.sh'}\npost-install={hdir / 'post.sh'}\n")
    out = tmp_path / "out"
    out.mkdir()
    b = bundle({"rootfs": ("rootfs.img", img)}, extra="[meta.product]\nrelease-name=spring\nbuild-id=42\n")
    txn = "5e0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
    r = system.install(b, f"--transaction-id={txn}", env={"HOOK_OUT": str(out)})
    for line in ("Handler status: working hard", "Image 'rootfs.img' status: done", "Bootloader status: fine",
                 "Error: something odd", "Debug: some detail", "Unknown handler output: << sideways nonsense",
                 "# plain output line"):
        assert line in r.stdout.splitlines(), f"{line!r} missing from:\n{r.stdout}"
    assert r.stdout.count("Handler status: working hard") == 2  # pre and post
    # pre ran before the slot was written, post after
    assert (out / "pre.sh.slotsha").read_text().strip() == sha256(b"\0" * IMG_SIZE)
    assert (out / "post.sh.slotsha").read_text().strip() == sha256(img)
    for name in ("pre.sh", "post.sh"):
        env = keyvals((out / f"{name}.env").read_text())
        nums = env["RAUC_SLOTS"].split()
        assert len(nums) == 2
        names = {env[f"RAUC_SLOT_NAME_{n}"]: n for n in nums}
        assert set(names) == {"rootfs.0", "rootfs.1"}
        assert env["RAUC_TARGET_SLOTS"] == names["rootfs.1"]
        t = names["rootfs.1"]
        assert env[f"RAUC_SLOT_BOOTNAME_{t}"] == "B"
        assert env[f"RAUC_SLOT_CLASS_{t}"] == "rootfs"
        assert env[f"RAUC_SLOT_DEVICE_{t}"] == str(system.device("rootfs.1"))
        assert env[f"RAUC_IMAGE_DIGEST_{t}"] == sha256(img)
        assert env[f"RAUC_IMAGE_NAME_{t}"].endswith("rootfs.img")
        assert f"RAUC_IMAGE_NAME_{names['rootfs.0']}" not in env
        assert env["RAUC_CURRENT_BOOTNAME"] == "A"
        assert env["RAUC_TRANSACTION_ID"] == txn
        assert env["RAUC_SYSTEM_CONFIG"] == str(system.conf)
        assert env["RAUC_SYSTEM_COMPATIBLE"] == COMPATIBLE
        assert env["RAUC_BUNDLE_MOUNT_POINT"].startswith("/")
        assert env["RAUC_META_PRODUCT_RELEASE_NAME"] == "spring"
        assert env["RAUC_META_PRODUCT_BUILD_ID"] == "42"
    assert system.primary() == "B"


def test_failing_pre_install_handler(system, bundle, img, tmp_path):
    h = tmp_path / "pre.sh"
    h.write_text("#!/bin/sh\necho '<< error no space'\nexit 2\n")
    h.chmod(0o755)
    system.write_conf(sections=f"[handlers]\npre-install={h}\n")
    before = system.grub()
    r = system.fails("install", bundle({"rootfs": ("rootfs.img", img)}), match="Pre-install handler error: ")
    assert "Error: no space" in r.stdout
    assert_untouched(system, before)


def test_failing_post_install_handler_fails_the_install(system, bundle, img, tmp_path):
    """The post-install handler runs after the slot is written; its failure
    is the install's failure (exit 1, one error line naming it)."""
    h = tmp_path / "post.sh"
    h.write_text("#!/bin/sh\nexit 3\n")
    h.chmod(0o755)
    system.write_conf(sections=f"[handlers]\npost-install={h}\n")
    system.fails("install", bundle({"rootfs": ("rootfs.img", img)}), match="Post-install handler error: ")
    assert head(system.device("rootfs.1"), IMG_SIZE) == img  # it ran after the write


def test_install_without_keyring_is_refused(system, bundle, img):
    """No [keyring] means nothing to verify bundles with: install refuses
    instead of installing an unverified bundle."""
    b = bundle({"rootfs": ("rootfs.img", img)})
    system.write_conf(keyring=False)
    before = system.grub()
    system.fails("install", b, match="[keyring] has no path or directory: cannot verify bundles")
    assert_untouched(system, before)


def test_handler_stderr_is_read_too(system, bundle, img, tmp_path):
    """A handler's stderr is merged into its stdout and read by the output
    protocol (RAUC: STDOUT_PIPE | STDERR_MERGE), in order."""
    h = tmp_path / "pre.sh"
    h.write_text("#!/bin/sh\necho '<< handler checking'\necho '<< error disk full' >&2\necho 'oops' >&2\nexit 2\n")
    h.chmod(0o755)
    system.write_conf(sections=f"[handlers]\npre-install={h}\n")
    r = system.fails("install", bundle({"rootfs": ("rootfs.img", img)}), match="Pre-install handler error: ")
    lines = r.stdout.splitlines()
    for line in ("Handler status: checking", "Error: disk full", "# oops"):
        assert line in lines, f"{line!r} missing from:\n{r.stdout}"
    assert lines.index("Handler status: checking") < lines.index("Error: disk full") < lines.index("# oops")
    assert "oops" not in r.stderr


FULL_HANDLER = """\
#!/bin/sh
for a in "$@"; do echo "$a"; done > "$HOOK_OUT/args"
env > "$HOOK_OUT/env"
echo "<< handler custom done"
"""


def test_full_custom_handler(system, bundle, img, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    b = bundle({"rootfs": ("rootfs.img", img)}, files={"handler.sh": (FULL_HANDLER, 0o755)},
               extra="[handler]\nfilename=handler.sh\nargs=--first 'two words'\n")
    before = system.grub()
    r = system.install(b, "--handler-args=--third \"x y\"", env={"HOOK_OUT": str(out)})
    assert "Handler status: custom done" in r.stdout
    assert (out / "args").read_text().splitlines() == ["--first", "two words", "--third", "x y"]
    env = keyvals((out / "env").read_text())
    assert env["RAUC_SLOT_NAME_" + env["RAUC_TARGET_SLOTS"]] == "rootfs.1"
    assert env["RAUC_CURRENT_BOOTNAME"] == "A"
    # rota itself neither wrote nor marked anything
    assert system.device("rootfs.1").read_bytes() == b"\0" * SLOT_SIZE
    assert system.grub() == before
    cf = system.data / "central.raucs"
    assert not cf.exists() or not parse_keyfile(cf).has_section("slot.rootfs.1")


# ---- install-same ----

@pytest.mark.parametrize("install_same", [False, True])
def test_install_same(system, bundle, img, install_same):
    system.write_conf(slots={
        "rootfs.0": {"device": system.slot_file("rootfs.0"), "bootname": "A"},
        "rootfs.1": {"device": system.slot_file("rootfs.1"), "bootname": "B",
                     "install-same": "true" if install_same else "false"}})
    b = bundle({"rootfs": ("rootfs.img", img)})
    system.install(b)
    dev = system.device("rootfs.1")
    assert head(dev, IMG_SIZE) == img
    # tamper with the slot (behind rota's back) and age the file
    with open(dev, "r+b") as f:
        f.write(b"X")
    os.utime(dev, (1_000_000_000, 1_000_000_000))
    r = system.install(b)
    st = system.slot_status("rootfs.1")
    assert st["installed.count"] == "2" and st["status"] == "ok"
    assert st["activated.count"] == "2"
    if install_same:
        assert head(dev, IMG_SIZE) == img
        assert dev.stat().st_mtime > 1_000_000_000
        assert "Copying image to rootfs.1" in r.stdout
    else:
        assert "Copying image skipped" in r.stdout
        assert head(dev, 1) == b"X"  # not rewritten: status said it already holds the image
        assert dev.stat().st_mtime == 1_000_000_000
    assert system.primary() == "B"


# ---- filesystems ----

def make_tar(path, files, symlinks=True):
    with tarfile.open(path, "w:gz") as tf:
        d = tarfile.TarInfo("etc")
        d.type = tarfile.DIRTYPE
        d.mode = 0o755
        tf.addfile(d)
        for name, content in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(content)
            ti.mode = 0o644
            ti.mtime = 1_600_000_000
            tf.addfile(ti, io.BytesIO(content))
        if symlinks:
            ti = tarfile.TarInfo("etc/version-link")
            ti.type = tarfile.SYMTYPE
            ti.linkname = "version"
            tf.addfile(ti)
    return path.read_bytes()


def fs_system(system, slot_type, size=16 * 1024 * 1024, extra=None):
    slots = {}
    for name, bn in (("rootfs.0", "A"), ("rootfs.1", "B")):
        slots[name] = {"device": system.slot_file(name, size), "bootname": bn, "type": slot_type, **(extra or {})}
    system.write_conf(slots=slots)


def test_tar_into_ext4_slot(system, bundle, tmp_path):
    fs_system(system, "ext4")
    tar = make_tar(tmp_path / "rootfs.tar.gz", {"etc/version": b"rota-tar-1\n", "etc/big": os.urandom(200_000)})
    r = system.install(bundle({"rootfs": ("rootfs.tar.gz", tar)}))
    assert "Copying image to rootfs.1" in r.stdout
    dev = system.device("rootfs.1")
    cat = subprocess.run(["debugfs", "-R", "cat /etc/version", str(dev)], capture_output=True, check=True)
    assert cat.stdout == b"rota-tar-1\n"
    stat = subprocess.run(["debugfs", "-R", "stat /etc/version-link", str(dev)], capture_output=True, text=True,
                          check=True).stdout
    assert "Type: symlink" in stat
    label = subprocess.run(["dumpe2fs", "-h", str(dev)], capture_output=True, text=True).stdout
    assert "Filesystem volume name:   rootfs.1" in label
    assert system.device("rootfs.0").read_bytes(), "untouched"
    assert set(system.device("rootfs.0").read_bytes()) == {0}
    assert system.primary() == "B"
    st = system.slot_status("rootfs.1")
    assert st["status"] == "ok" and st["sha256"] == sha256(tar)
    assert not any(system.mnt.iterdir()) if system.mnt.exists() else True  # unmounted, mount point removed
    with open("/proc/mounts") as f:
        assert str(system.mnt) not in f.read()


def test_tar_into_vfat_slot(system, bundle, tmp_path):
    fs_system(system, "vfat")
    # random filler: a bundle's squashfs must be larger than 4096 bytes
    tar = make_tar(tmp_path / "rootfs.tar.gz", {"etc/version": b"rota-vfat-1\n", "etc/blob": os.urandom(20_000)},
                   symlinks=False)
    b = bundle({"rootfs": ("rootfs.tar.gz", tar)})
    if "vfat" not in pathlib.Path("/proc/filesystems").read_text():
        # This machine's kernel has no vfat: the mkfs happens, the mount fails,
        # and the install must fail safely instead of activating B.
        r = system.fails("install", b, match="Failed updating slot rootfs.1")
        assert "mount" in r.error_line()
        label = subprocess.run(["mlabel", "-i", str(system.device("rootfs.1")), "-s", "::"], capture_output=True,
                               text=True, env={**os.environ, "MTOOLS_SKIP_CHECK": "1"}).stdout
        assert "ROOTFS_1" in label  # mkfs.vfat ran with the slot's label
        assert system.primary() == "A" and system.grub()["B_OK"] == "0"
        assert system.slot_status("rootfs.1")["status"] == "failed"
        return
    system.install(b)
    dev = system.device("rootfs.1")
    out = subprocess.run(["mtype", "-i", str(dev), "::/etc/version"], capture_output=True, check=True,
                         env={**os.environ, "MTOOLS_SKIP_CHECK": "1"}).stdout
    assert out == b"rota-vfat-1\n"
    label = subprocess.run(["mlabel", "-i", str(dev), "-s", "::"], capture_output=True, text=True,
                           env={**os.environ, "MTOOLS_SKIP_CHECK": "1"}).stdout
    assert "ROOTFS_1" in label
    assert system.primary() == "B"


def test_tar_mount_failure_is_failsafe(system, bundle, tmp_path):
    fs_system(system, "ext4", extra={"extra-mount-opts": "no_such_option_xyz"})
    tar = make_tar(tmp_path / "rootfs.tar.gz", {"etc/version": b"x\n", "etc/blob": os.urandom(20_000)})
    r = system.fails("install", bundle({"rootfs": ("rootfs.tar.gz", tar)}), match="Failed updating slot rootfs.1")
    assert "mount" in r.error_line()
    env = system.grub()
    assert env["B_OK"] == "0" and system.primary() == "A"
    assert system.slot_status("rootfs.1")["status"] == "failed"
    with open("/proc/mounts") as f:
        assert str(system.mnt) not in f.read()


def test_tar_with_symlinked_mountprefix(system, bundle, tmp_path):
    """A mount prefix reached through a symlink (mountprefix=/var/run/rauc
    with /var/run -> /run): the slot's mount point is no symlink the
    archive made, so extraction must go on."""
    fs_system(system, "ext4")
    (tmp_path / "run").mkdir()
    (tmp_path / "varrun").symlink_to(tmp_path / "run")
    system.conf.write_text(system.conf.read_text().replace(f"mountprefix={system.mnt}\n",
                                                           f"mountprefix={tmp_path / 'varrun' / 'rauc'}\n"))
    tar = make_tar(tmp_path / "rootfs.tar.gz", {"etc/version": b"via-symlink\n", "etc/blob": os.urandom(20_000)})
    system.install(bundle({"rootfs": ("rootfs.tar.gz", tar)}))
    cat = subprocess.run(["debugfs", "-R", "cat /etc/version", str(system.device("rootfs.1"))], capture_output=True,
                         check=True)
    assert cat.stdout == b"via-symlink\n"
    assert system.primary() == "B"


MOUNTED_HOOK = """\
#!/bin/sh
[ "$1" = slot-install ] || exit 1
env > "$HOOK_OUT/slot-install.env"
cp "$RAUC_IMAGE_NAME" "$RAUC_SLOT_MOUNT_POINT/update.img"
"""


def test_allow_mounted_slot_install_hook(system, bundle, img, tmp_path):
    """allow-mounted: a slot mounted outside rota may only be updated by an
    install hook, which is told where the slot is mounted."""
    fs_system(system, "ext4", size=4 * 1024 * 1024, extra={"allow-mounted": "true"})
    dev = system.device("rootfs.1")
    subprocess.run(["mkfs.ext4", "-q", "-F", str(dev)], check=True)
    ext = tmp_path / "ext"
    ext.mkdir()
    subprocess.run(["mount", "-o", "loop", str(dev), str(ext)], check=True)
    try:
        before = system.grub()
        system.fails("install", bundle({"rootfs": ("rootfs.img", img)}),
                     match=f"Mounted device '{dev}' may only be updated by a custom install hook")
        assert system.grub() == before
        b = bundle({"rootfs": ("rootfs.img", img)}, hooks_file="hook.sh", files={"hook.sh": (MOUNTED_HOOK, 0o755)},
                   image_keys={"rootfs": "hooks=install"})
        out = tmp_path / "hookout"
        out.mkdir()
        system.install(b, env={"HOOK_OUT": str(out)})
        env = keyvals((out / "slot-install.env").read_text())
        assert env["RAUC_SLOT_MOUNT_POINT"] == str(ext)
        assert (ext / "update.img").read_bytes() == img
        assert system.primary() == "B"
    finally:
        subprocess.run(["umount", str(ext)], check=False)


def make_ext4_image(path, size, content=b"ext4-image\n", dirs=()):
    with open(path, "wb") as f:
        f.truncate(size)
    src = path.parent / "ext4src"
    (src / "etc").mkdir(parents=True, exist_ok=True)
    for d in dirs:
        (src / d).mkdir(parents=True, exist_ok=True)
    (src / "etc" / "version").write_bytes(content)
    (src / "etc" / "blob").write_bytes(os.urandom(64 * 1024))  # keeps the bundle's squashfs > 4096 bytes
    subprocess.run(["mkfs.ext4", "-q", "-F", "-b", "4096", "-d", str(src), str(path)], check=True)
    return path.read_bytes()


def block_count(dev):
    out = subprocess.run(["dumpe2fs", "-h", str(dev)], capture_output=True, text=True, check=True).stdout
    return int(next(l for l in out.splitlines() if l.startswith("Block count:")).split()[-1])


@pytest.mark.parametrize("resize", [True, False])
def test_ext4_image_resize(system, bundle, tmp_path, resize):
    fs_system(system, "ext4", size=16 * 1024 * 1024, extra={"resize": "true" if resize else "false"})
    image = make_ext4_image(tmp_path / "rootfs.ext4", 4 * 1024 * 1024)
    assert block_count(tmp_path / "rootfs.ext4") == 1024
    system.install(bundle({"rootfs": ("rootfs.ext4", image)}))
    dev = system.device("rootfs.1")
    assert block_count(dev) == (4096 if resize else 1024)
    cat = subprocess.run(["debugfs", "-R", "cat /etc/version", str(dev)], capture_output=True, check=True)
    assert cat.stdout == b"ext4-image\n"
    assert system.primary() == "B"


# ---- write-slot ----

def test_write_slot(system, tmp_path):
    data = random_image(tmp_path / "raw.img", 123_456, 5)
    before = system.grub()
    r = system.rota("write-slot", "rootfs.1", tmp_path / "raw.img")
    assert "Slot written successfully" in r.stdout
    assert head(system.device("rootfs.1"), len(data)) == data
    assert system.grub() == before  # no bootloader interaction
    assert not (system.data / "central.raucs").exists()  # and no status
    system.fails("write-slot", "rootfs.9", tmp_path / "raw.img", match="No slot named 'rootfs.9'")


def test_write_slot_resizes_ext4(system, tmp_path):
    """write-slot runs the slot's handler as install does (RAUC:
    get_update_handler), resize=true included."""
    fs_system(system, "ext4", size=16 * 1024 * 1024, extra={"resize": "true"})
    make_ext4_image(tmp_path / "rootfs.ext4", 4 * 1024 * 1024)
    system.rota("write-slot", "rootfs.1", tmp_path / "rootfs.ext4")
    assert block_count(system.device("rootfs.1")) == 4096


def test_write_slot_and_install_refuse_readonly(system, bundle, img, tmp_path):
    system.write_conf(slots={
        "rootfs.0": {"device": system.slot_file("rootfs.0"), "bootname": "A"},
        "rootfs.1": {"device": system.slot_file("rootfs.1"), "bootname": "B", "readonly": "true"}})
    random_image(tmp_path / "raw.img", 4096, 5)
    system.fails("write-slot", "rootfs.1", tmp_path / "raw.img", match="readonly slot rootfs.1")
    assert set(system.device("rootfs.1").read_bytes()) == {0}
    before = system.grub()
    system.fails("install", bundle({"rootfs": ("rootfs.img", img)}), match="is readonly")
    assert_untouched(system, before)


# ---- status files ----

def per_slot_status(system):
    """No data-directory (nor statusfile): each mountable slot keeps its
    status in its own slot.raucs."""
    lines = system.conf.read_text().splitlines()
    system.conf.write_text("\n".join(l for l in lines if not l.startswith("data-directory=")) + "\n")


def ext4_cat(dev, path):
    """A file's bytes in an ext4 filesystem, read without mounting it
    (empty if there is no such file)."""
    return subprocess.run(["debugfs", "-R", f"cat {path}", str(dev)], capture_output=True, check=True).stdout


def mounted_below(path):
    with open("/proc/mounts") as f:
        return [l.split()[1] for l in f if l.split()[1].startswith(str(path))]


@pytest.fixture
def slot_mounts(system):
    """Unmounts what a failing test left mounted below the mount prefix."""
    yield
    for mp in reversed(mounted_below(system.mnt)):
        subprocess.run(["umount", mp], check=False)


def test_unreadable_status_file_is_replaced_on_save(system, bundle, img):
    """As in RAUC: a central status file that cannot be parsed gives empty
    status with a message, and a status query leaves it alone; the next save
    moves it to <file>.broken (with a warning) and writes a new one."""
    system.data.mkdir()
    status_file = system.data / "central.raucs"
    garbage = b"[slot.rootfs.1\nstatus=ok\n\x00\xff\n"
    status_file.write_bytes(garbage)
    r = system.rota("status", "--detailed", "--output-format=json")
    assert f"cannot load status file {status_file}" in r.stderr
    slots = {k: v for s in json.loads(r.stdout)["slots"] for k, v in s.items()}
    assert "status" not in slots["rootfs.1"].get("slot_status", {})
    assert status_file.read_bytes() == garbage
    assert not (system.data / "central.raucs.broken").exists()

    r = system.install(bundle({"rootfs": ("rootfs.img", img)}))
    assert f"{status_file} is unreadable" in r.stderr and f"moved to {status_file}.broken" in r.stderr
    assert (system.data / "central.raucs.broken").read_bytes() == garbage
    st = system.slot_status("rootfs.1")
    assert st["status"] == "ok" and st["sha256"] == sha256(img)
    assert system.primary() == "B"


STATUS_BREAKING_HOOK = """\
#!/bin/sh
[ "$1" = slot-post-install ] || exit 0
rm "$STATUS_FILE" && mkdir "$STATUS_FILE"
"""


def test_status_save_failure_after_write_fails_without_activating(system, bundle, img):
    """The slot is written, then its "ok" status cannot be saved (a
    post-install hook put a directory where the status file is): the
    install fails naming the file, and the written slot is not activated."""
    status_file = system.data / "central.raucs"
    b = bundle({"rootfs": ("rootfs.img", img)}, hooks_file="hook.sh", files={"hook.sh": (STATUS_BREAKING_HOOK, 0o755)},
               image_keys={"rootfs": "hooks=post-install"})
    r = system.fails("install", b, env={"STATUS_FILE": str(status_file)},
                     match=f"Error while writing status file: {status_file}: cannot rename into place: Is a directory")
    assert "Installing `" in r.stderr and "failed" in r.stderr
    assert head(system.device("rootfs.1"), IMG_SIZE) == img  # the hook ran after the write
    env = system.grub()
    assert env["ORDER"] == "A B" and env["B_OK"] == "0", env
    assert system.primary() == "A"
    assert sorted(p.name for p in system.data.iterdir()) == ["central.raucs"]  # no temporary file left


def test_pending_status_save_failure_fails_before_writing(system, bundle, img):
    """A status file that cannot be written at all (its directory is a
    regular file): the "pending" status before the write already fails,
    with the same prefix as RAUC's, and the slot is not written."""
    (system.root / "not-a-dir").write_text("")
    status_file = system.root / "not-a-dir" / "central.raucs"
    system.write_conf(system_extra=f"statusfile={status_file}")
    r = system.fails("install", bundle({"rootfs": ("rootfs.img", img)}),
                     match=f"Error while writing status file: {status_file}: cannot create temporary file: "
                           "Not a directory")
    assert f"cannot load status file {status_file}" in r.stderr
    assert system.device("rootfs.1").read_bytes() == b"\0" * SLOT_SIZE
    env = system.grub()
    assert env["ORDER"] == "A B" and env["B_OK"] == "0", env
    assert system.primary() == "A"


def test_per_slot_status_written_into_the_slot(system, bundle, tmp_path, slot_mounts):
    """Per-slot status: slot.raucs in the written filesystem. If it cannot
    be saved there (the image has a directory of that name), the install
    fails naming the file, the slot is unmounted again and not activated."""
    fs_system(system, "ext4")
    per_slot_status(system)
    (tmp_path / "bad").mkdir()
    bad = make_ext4_image(tmp_path / "bad" / "rootfs.ext4", 4 * 1024 * 1024, b"bad\n", dirs=["slot.raucs"])
    dev = system.device("rootfs.1")
    r = system.fails("install", bundle({"rootfs": ("rootfs.ext4", bad)}),
                     match=f"Error while writing status file: {system.mnt / 'rootfs.1' / 'slot.raucs'}: "
                           "cannot rename into place: Is a directory")
    # before the write the slot held no filesystem: a message, empty status, no error
    assert "cannot read status of slot rootfs.1: cannot mount slot rootfs.1" in r.stderr
    assert ext4_cat(dev, "/etc/version") == b"bad\n"
    assert system.primary() == "A" and system.grub()["B_OK"] == "0"
    assert mounted_below(system.mnt) == []
    assert not (system.data / "central.raucs").exists()

    (tmp_path / "good").mkdir()
    good = make_ext4_image(tmp_path / "good" / "rootfs.ext4", 4 * 1024 * 1024, b"good\n")
    system.install(bundle({"rootfs": ("rootfs.ext4", good)}))
    assert ext4_cat(dev, "/etc/version") == b"good\n"
    st = keyvals(ext4_cat(dev, "/slot.raucs").decode())
    assert st["status"] == "ok" and st["sha256"] == sha256(good)
    assert system.primary() == "B"
    assert mounted_below(system.mnt) == []


FAILING_UMOUNT = """\
#!/bin/sh
echo "umount: $1: target is busy." >&2
exit 32
"""


def test_slot_left_mounted_by_status_read_is_not_written(system, bundle, tmp_path, slot_mounts):
    """Per-slot status is read by mounting the target slot; if it cannot be
    unmounted again, the slot is not written (RAUC: "still mounted")."""
    fs_system(system, "ext4")
    per_slot_status(system)
    dev = system.device("rootfs.1")
    subprocess.run(["mkfs.ext4", "-q", "-F", str(dev)], check=True)
    image = make_ext4_image(tmp_path / "rootfs.ext4", 4 * 1024 * 1024, b"new\n")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "umount").write_text(FAILING_UMOUNT)
    (bindir / "umount").chmod(0o755)
    blob = (tmp_path / "ext4src" / "etc" / "blob").read_bytes()  # random: found in the slot only if written
    mp = system.mnt / "rootfs.1"
    r = system.fails("install", bundle({"rootfs": ("rootfs.ext4", image)}),
                     env={"PATH": f"{bindir}:{os.environ['PATH']}"},
                     match=f"Slot rootfs.1 still mounted at {mp} after reading its status: ")
    assert r.error_line().startswith("rota: Slot rootfs.1 still mounted")
    assert "target is busy" in r.error_line()
    assert mounted_below(system.mnt) == [str(mp)]
    subprocess.run(["umount", str(mp)], check=True)
    assert "Copying image to rootfs.1" not in r.stdout
    assert blob[:4096] not in dev.read_bytes()
    assert system.primary() == "A" and system.grub()["B_OK"] == "0"


# ---- slot groups ----

def test_parent_child_slots_updated_together(system, bundle, img, tmp_path):
    system.write_conf(slots={
        "rootfs.0": {"device": system.slot_file("rootfs.0"), "bootname": "A"},
        "rootfs.1": {"device": system.slot_file("rootfs.1"), "bootname": "B"},
        "appfs.0": {"device": system.slot_file("appfs.0", 65536), "parent": "rootfs.0"},
        "appfs.1": {"device": system.slot_file("appfs.1", 65536), "parent": "rootfs.1"}})
    app = random_image(tmp_path / "app.img", 40_000, 7)
    r = system.install(bundle({"rootfs": ("rootfs.img", img), "appfs": ("appfs.img", app)}, version="1"))
    assert "Checking slot appfs.1" in r.stdout
    assert head(system.device("rootfs.1"), IMG_SIZE) == img
    assert head(system.device("appfs.1"), len(app)) == app
    assert set(system.device("appfs.0").read_bytes()) == {0}
    assert system.slot_status("appfs.1")["sha256"] == sha256(app)
    assert system.primary() == "B"
    # from B, both go to group A
    system.boot("B")
    app2 = random_image(tmp_path / "app2.img", 30_000, 8)
    system.install(bundle({"rootfs": ("rootfs.img", img), "appfs": ("appfs.img", app2)}, version="2"))
    assert head(system.device("appfs.0"), len(app2)) == app2
    assert head(system.device("appfs.1"), len(app)) == app
    assert system.primary() == "A"
    j = json.loads(system.rota("status", "--output-format=json").stdout)
    slots = {k: v for s in j["slots"] for k, v in s.items()}
    assert slots["appfs.1"]["state"] == "active" and slots["appfs.1"]["parent"] == "rootfs.1"
    assert slots["appfs.0"]["state"] == "inactive"


def test_booted_child_protects_its_group(system, bundle, img, tmp_path):
    """root= naming a child slot: its parent and it are running, so the
    other group is the target, whatever the status says."""
    system.write_conf(slots={
        "rootfs.0": {"device": system.slot_file("rootfs.0"), "bootname": "A"},
        "rootfs.1": {"device": system.slot_file("rootfs.1"), "bootname": "B"},
        "appfs.0": {"device": system.slot_file("appfs.0", 65536), "parent": "rootfs.0"},
        "appfs.1": {"device": system.slot_file("appfs.1", 65536), "parent": "rootfs.1"}})
    system.cmdline.write_text(f"console=ttyS0 root={system.device('appfs.0')} quiet\n")
    app = random_image(tmp_path / "app.img", 40_000, 7)
    r = system.install(bundle({"rootfs": ("rootfs.img", img), "appfs": ("appfs.img", app)}))
    assert "Checking slot appfs.1" in r.stdout
    assert set(system.device("rootfs.0").read_bytes()) == {0}
    assert set(system.device("appfs.0").read_bytes()) == {0}
    assert head(system.device("rootfs.1"), IMG_SIZE) == img
    assert head(system.device("appfs.1"), len(app)) == app
    j = json.loads(system.rota("status", "--output-format=json").stdout)
    slots = {k: v for s in j["slots"] for k, v in s.items()}
    assert slots["appfs.0"]["state"] == "booted" and slots["rootfs.0"]["state"] == "active"


def test_two_bootable_targets_refused(system, bundle, img):
    """A bundle that would write two slots with bootnames (rootfs and a
    recovery pair, say) cannot mark both bad first: refused before anything
    is touched."""
    system.write_conf(slots={
        "rootfs.0": {"device": system.slot_file("rootfs.0"), "bootname": "A"},
        "rootfs.1": {"device": system.slot_file("rootfs.1"), "bootname": "B"},
        "recovery.0": {"device": system.slot_file("recovery.0"), "bootname": "C"},
        "recovery.1": {"device": system.slot_file("recovery.1"), "bootname": "D"}})
    before = system.grub()
    system.fails("install", bundle({"rootfs": ("rootfs.img", img), "recovery": ("recovery.img", img)}),
                 match="Inconsistency detected: would need to activate more than one slot (rootfs.1 and recovery.")
    assert_untouched(system, before)
    assert set(system.device("recovery.0").read_bytes()) == {0}
    assert set(system.device("recovery.1").read_bytes()) == {0}


# ---- other bootloaders ----

CUSTOM_BACKEND = """\
#!/bin/sh
echo "$*" >> "$BL_LOG"
case "$1" in
get-primary) cat "$BL_DIR/primary" 2>/dev/null || echo A ;;
get-state) echo good ;;
set-primary) echo "$2" > "$BL_DIR/primary"
             head -c 307200 "$SLOT_B" | sha256sum | cut -c1-64 > "$BL_DIR/at-set-primary" ;;
set-state) head -c 307200 "$SLOT_B" | sha256sum | cut -c1-64 > "$BL_DIR/at-set-state" ;;
get-current) echo A ;;
*) exit 1 ;;
esac
"""


def test_custom_bootloader_backend(system, bundle, img, tmp_path):
    bl = tmp_path / "bl"
    bl.mkdir()
    (bl / "backend").write_text(CUSTOM_BACKEND)
    (bl / "backend").chmod(0o755)
    system.write_conf(bootloader="custom", sections=f"[handlers]\nbootloader-custom-backend={bl / 'backend'}\n")
    log = bl / "log"
    env = {"BL_LOG": str(log), "BL_DIR": str(bl), "SLOT_B": str(system.device("rootfs.1"))}
    system.install(bundle({"rootfs": ("rootfs.img", img)}), env=env)
    assert log.read_text().splitlines() == ["set-state B bad", "set-primary B"]
    assert (bl / "at-set-state").read_text().strip() == sha256(b"\0" * IMG_SIZE)
    assert (bl / "at-set-primary").read_text().strip() == sha256(img)
    log.unlink()
    j = json.loads(system.rota("status", "--output-format=json", env=env).stdout)
    assert j["boot_primary"] == "rootfs.1"
    r = system.rota("mark-bad", "other", env=env)
    assert "marked slot(s) rootfs.1 as bad" in r.stdout
    assert "set-state B bad" in log.read_text().splitlines()


@pytest.fixture
def uboot_env(tmp_path):
    printenv, setenv = shutil.which("fw_printenv"), shutil.which("fw_setenv")
    if not printenv or not setenv:
        pytest.skip("fw_printenv/fw_setenv not installed (libubootenv-tool)")
    d = tmp_path / "uboot"
    (d / "bin").mkdir(parents=True)
    (d / "uboot.env").write_bytes(b"\0" * 0x4000)
    cfg = d / "fw_env.config"
    cfg.write_text(f"{d / 'uboot.env'} 0x0 0x4000\n")
    (d / "defenv").write_text("BOOT_ORDER=A B\nBOOT_A_LEFT=3\nBOOT_B_LEFT=3\n")
    subprocess.run([setenv, "-c", cfg, "-f", d / "defenv", "BOOT_A_LEFT", "3"], check=True, capture_output=True)
    (d / "bin" / "fw_printenv").write_text(f"#!/bin/sh\nexec {printenv} -c {cfg} \"$@\"\n")
    (d / "bin" / "fw_setenv").write_text(f"#!/bin/sh\necho \"$*\" >> {d / 'setlog'}\nexec {setenv} -c {cfg} \"$@\"\n")
    for t in ("fw_printenv", "fw_setenv"):
        (d / "bin" / t).chmod(0o755)

    def read():
        out = subprocess.run([printenv, "-c", cfg], capture_output=True, text=True, check=True).stdout
        return keyvals(out)

    return {"PATH": f"{d / 'bin'}:{os.environ['PATH']}"}, read, d / "setlog"


def test_uboot_backend(system, bundle, img, uboot_env):
    path_env, read, setlog = uboot_env
    system.write_conf(bootloader="uboot")
    system.install(bundle({"rootfs": ("rootfs.img", img)}), env=path_env)
    env = read()
    assert env["BOOT_ORDER"] == "B A"
    assert env["BOOT_B_LEFT"] == "3" and env["BOOT_A_LEFT"] == "3"
    # B was taken out of BOOT_ORDER (marked bad) before it was made primary
    assert setlog.read_text().splitlines() == ["BOOT_ORDER A", "BOOT_B_LEFT 0", "BOOT_B_LEFT 3", "BOOT_ORDER B A"]
    assert head(system.device("rootfs.1"), IMG_SIZE) == img
    j = json.loads(system.rota("status", "--output-format=json", env=path_env).stdout)
    assert j["boot_primary"] == "rootfs.1"
    system.rota("mark-bad", "other", env=path_env)
    env = read()
    assert env["BOOT_ORDER"] == "A" and env["BOOT_B_LEFT"] == "0"


# ---- configuration errors ----

def test_config_bad_boolean(system):
    system.write_conf(slots={
        "rootfs.0": {"device": system.slot_file("rootfs.0"), "bootname": "A"},
        "rootfs.1": {"device": system.slot_file("rootfs.1"), "bootname": "B", "readonly": "maybe"}})
    r = system.fails("status", match="readonly")
    line = r.error_line()
    assert str(system.conf) in line and "[slot.rootfs.1]" in line and "maybe" in line


def test_variant_file_read_only_when_needed(system, bundle, img, tmp_path):
    """A missing variant-file does not break `rota info` (no variant
    needed); commands on the system fail naming the key; once the file is
    there its content is the variant."""
    vfile = tmp_path / "variant"
    system.write_conf(system_extra=f"variant-file={vfile}")
    b = bundle({"rootfs": ("rootfs.img", img)})
    assert "rootfs.img" in system.rota("info", b).stdout
    r = system.fails("status", match="variant-file: cannot read variant")
    assert str(system.conf) in r.error_line()
    vfile.write_text("board-rev-b\n")
    assert json.loads(system.rota("status", "--output-format=json").stdout)["variant"] == "board-rev-b"


def test_variant_image_preferred_over_default(system, bundle, img):
    """variant-name: an [image.<class>.<variant>] of the system's variant wins
    over the class's default image; another variant's image is not used."""
    other = random_image(system.root / "other.img", IMG_SIZE, 7)
    mine = random_image(system.root / "mine.img", IMG_SIZE, 8)
    system.write_conf(system_extra="variant-name=board-b")
    b = bundle({"rootfs": ("rootfs.img", img), "rootfs.board-a": ("a.img", other),
                "rootfs.board-b": ("b.img", mine)})
    system.install(b)
    assert head(system.device("rootfs.1"), IMG_SIZE) == mine
    assert system.slot_status("rootfs.1")["sha256"] == sha256(mine)


def test_config_unknown_key_warns(system, bundle, img):
    system.write_conf(slots={
        "rootfs.0": {"device": system.slot_file("rootfs.0"), "bootname": "A"},
        "rootfs.1": {"device": system.slot_file("rootfs.1"), "bootname": "B", "colour": "blue"}})
    r = system.rota("status")
    assert "colour" in r.stderr and "slot.rootfs.1" in r.stderr
    system.install(bundle({"rootfs": ("rootfs.img", img)}))
    assert head(system.device("rootfs.1"), IMG_SIZE) == img


def test_missing_slot_device(system, bundle, img):
    system.write_conf(slots={
        "rootfs.0": {"device": system.slot_file("rootfs.0"), "bootname": "A"},
        "rootfs.1": {"device": system.root / "no-such-device", "bootname": "B"}})
    before = system.grub()
    system.fails("install", bundle({"rootfs": ("rootfs.img", img)}),
                 match=f"Destination device '{system.root / 'no-such-device'}' for slot 'rootfs.1' not found")
    assert system.grub() == before


# ---- corrupted payload ----

def flip_payload_byte(bundle_path, data):
    """Flips one byte of the image data inside the bundle's squashfs."""
    raw = bytearray(bundle_path.read_bytes())
    mid = len(data) // 2
    off = raw.find(data[mid:mid + 256])
    assert off > 0, "image data not found stored uncompressed in the bundle"
    raw[off + 100] ^= 0xFF
    bundle_path.write_bytes(bytes(raw))
    return off + 100


def test_corrupted_verity_payload(system, bundle, img):
    b = bundle({"rootfs": ("rootfs.img", img)})
    pos = flip_payload_byte(b, img)
    r = system.fails("install", b, match="offset")
    assert "rootfs.1" in r.error_line()
    # the payload offset of the 4 KiB verity data block holding the flipped byte
    assert f"offset {pos // 4096 * 4096} " in r.error_line()
    env = system.grub()
    assert env["B_OK"] == "0" and env["B_TRY"] == "0"
    assert system.primary() == "A"
    st = system.slot_status("rootfs.1")
    assert st["status"] == "failed"
    assert st["installed.count"] == "1"
    assert "activated.count" not in st
    j = json.loads(system.rota("status", "--detailed", "--output-format=json").stdout)
    slots = {k: v for s in j["slots"] for k, v in s.items()}
    assert slots["rootfs.1"]["slot_status"]["status"] == "failed"
    assert slots["rootfs.1"]["boot_status"] == "bad"
    assert j["boot_primary"] == "rootfs.0"
