"""`rota` next to Debian's rauc 1.8 on the same bundles and system.conf:
options rauc has (`info --dump-cert/--dump-recipients`, `help`), `info` of
images without file and with converters, `status` layout of child slots and
its shell numbers, and `write-slot` without a detectable booted slot."""
import os
import re
import shlex
import shutil
import subprocess
import time

import pytest

from conftest import make_input, run, signer_args
from system_fixture import COMPATIBLE, System

needs_rauc = pytest.mark.skipif(shutil.which("rauc") is None, reason="Debian's rauc is not installed")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def rauc(*args, ok=True, env=None):
    p = subprocess.run(["rauc", *map(str, args)], capture_output=True, text=True, timeout=300,
                       env={**os.environ, **(env or {})})
    if ok:
        assert p.returncode == 0, p.stderr
    return p


def shell_vars(text):
    """KEY=value lines as the shell would read them (quoted or not)."""
    return {k: "".join(shlex.split(v)) for k, v in (l.split("=", 1) for l in text.splitlines() if "=" in l)}


def from_line(text, start):
    lines = text.splitlines()
    i = next(i for i, l in enumerate(lines) if l.startswith(start))
    return "\n".join(lines[i:]).rstrip("\n")


@needs_rauc
@pytest.mark.parametrize("fmt", ["readable", "shell", "json"])
def test_info_dump_cert_like_rauc(tmp_path, pki, make_bundle, fmt):
    b = make_bundle("verity")
    ring = f"--keyring={pki / 'keyring.pem'}"
    ours = run("info", ring, "--dump-cert", "--dump-recipients", f"--output-format={fmt}", b).stdout
    theirs = rauc("info", ring, "--dump-cert", "--dump-recipients", f"--output-format={fmt}", b).stdout
    # the certificate text up to the recipients line, byte for byte
    cut = "No recipient data to dump (bundle is not encrypted)"
    assert from_line(ours, "Certificate:").split(cut)[0] == from_line(theirs, "Certificate:").split(cut)[0]
    assert cut + "\n\n" in ours
    if fmt == "readable":  # RAUC puts the dump before the chain
        assert ours.index("Certificate:") < ours.index(cut) < ours.index("Certificate Chain:")


@needs_rauc
def test_info_dump_recipients_like_rauc(tmp_path, pki):
    keys = {}
    for name, newkey in (("rsa", ["rsa:2048"]), ("ec", ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"])):
        keys[name] = (tmp_path / f"{name}.key", tmp_path / f"{name}.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", *newkey, "-nodes", "-keyout", keys[name][0], "-out",
                        keys[name][1], "-subj", f"/O=rota Test/CN=recipient {name}", "-days", "3650"],
                       capture_output=True, check=True)
    ring = f"--keyring={pki / 'keyring.pem'}"
    b = tmp_path / "crypt.raucb"
    run("bundle", *signer_args(pki), make_input(tmp_path / "in", "crypt"), b)
    enc = tmp_path / "enc.raucb"
    run("encrypt", ring, f"--to={keys['rsa'][1]}", f"--to={keys['ec'][1]}", b, enc)
    key = f"--key={keys['ec'][0]}"
    ours = run("info", ring, key, "--dump-recipients", "--output-format=shell", enc).stdout
    theirs = rauc("info", ring, key, "--dump-recipients", "--output-format=shell", enc).stdout
    assert "2 Recipients:" in ours
    assert from_line(ours, "2 Recipients:") == from_line(theirs, "2 Recipients:")


@needs_rauc
def test_info_image_without_file_like_rauc(tmp_path, pki):
    indir = tmp_path / "in"
    indir.mkdir()
    (indir / "pad.bin").write_bytes(os.urandom(20000))  # the squashfs must exceed 4096 bytes
    (indir / "hook.sh").write_text("#!/bin/sh\n")
    (indir / "manifest.raucm").write_text("[update]\ncompatible=rota-test\n\n[bundle]\nformat=verity\n\n"
                                          "[hooks]\nfilename=hook.sh\n\n[image.rootfs]\nhooks=install;\n")
    b = tmp_path / "b.raucb"
    run("bundle", *signer_args(pki), indir, b)
    ring = f"--keyring={pki / 'keyring.pem'}"
    import json
    ours = json.loads(run("info", ring, "--output-format=json", b).stdout)["images"][0]["rootfs"]
    theirs = json.loads(rauc("info", ring, "--output-format=json", b).stdout)["images"][0]["rootfs"]
    assert ours["size"] == theirs["size"] == -1
    ours = shell_vars(run("info", ring, "--output-format=shell", b).stdout)
    theirs = shell_vars(rauc("info", ring, "--output-format=shell", b).stdout)
    assert ours["RAUC_IMAGE_SIZE_0"] == theirs["RAUC_IMAGE_SIZE_0"] == "-1"
    ours = run("info", ring, b).stdout.splitlines()
    theirs = [ANSI.sub("", l).replace("\t", "    ") for l in rauc("info", ring, b).stdout.splitlines()]
    i, j = ours.index("  [rootfs]"), theirs.index("  [rootfs]")
    assert ours[i + 1:i + 3] == theirs[j + 1:j + 3] == ["    (no image file)", "    Hooks:     install"]


def test_info_shows_convert(tmp_path, pki, make_bundle):
    """cli-and-dbus.md `info`: Convert/Converted lines, RAUC_IMAGE_CONVERT(ED)_i,
    "convert"/"converted" — for a bundle whose signed manifest (as RAUC
    HEAD's `convert` writes it) has them; rota cannot create one, so the
    manifest is re-signed with openssl and swapped in."""
    import json
    b = make_bundle("verity")
    sig = tmp_path / "sig.der"
    run("extract-signature", f"--keyring={pki / 'keyring.pem'}", b, sig)
    mf = subprocess.run(["openssl", "cms", "-verify", "-noverify", "-inform", "DER", "-in", sig, "-binary"],
                        capture_output=True, check=True).stdout.decode()
    mf = mf.replace("filename=rootfs.ext4\n", "filename=rootfs.ext4\nconvert=keep;casync;\n"
                    "converted=rootfs.ext4;rootfs.ext4.caibx;\n")
    (tmp_path / "mf").write_text(mf)
    subprocess.run(["openssl", "cms", "-sign", "-binary", "-nosmimecap", "-nodetach", "-outform", "DER",
                    "-in", tmp_path / "mf", "-signer", pki / "signer.cert.pem", "-inkey", pki / "signer.key.pem",
                    "-certfile", pki / "intermediate.pem", "-out", tmp_path / "new.der"], check=True)
    conv = tmp_path / "conv.raucb"
    run("replace-signature", b, tmp_path / "new.der", conv)
    ring = f"--keyring={pki / 'keyring.pem'}"
    text = run("info", ring, conv).stdout.splitlines()
    assert "    Convert:   keep casync" in text
    assert "    Converted: 'rootfs.ext4' 'rootfs.ext4.caibx'" in text
    v = shell_vars(run("info", ring, "--output-format=shell", conv).stdout)
    assert v["RAUC_IMAGE_CONVERT_0"] == "keep casync" and "RAUC_IMAGE_CONVERT_1" not in v
    assert v["RAUC_IMAGE_CONVERTED_0"] == "rootfs.ext4 rootfs.ext4.caibx"
    images = {k: v for i in json.loads(run("info", ring, "--output-format=json", conv).stdout)["images"]
              for k, v in i.items()}
    assert images["rootfs"]["convert"] == ["keep", "casync"]
    assert images["rootfs"]["converted"] == ["rootfs.ext4", "rootfs.ext4.caibx"]
    assert "convert" not in images["appfs"] and "converted" not in images["appfs"]


def test_help_command_succeeds():
    r = run("help")
    assert r.returncode == 0 and "Usage:" in r.stdout
    if shutil.which("rauc"):
        assert rauc("help").returncode == 0


# ---- a file-backed system with child slots, rauc 1.8's service on a private bus ----

@pytest.fixture
def child_system(tmp_path, pki):
    s = System(tmp_path / "sys", pki)
    s.write_conf(slots={"rootfs.0": {"device": s.slot_file("rootfs.0"), "bootname": "A"},
                        "rootfs.1": {"device": s.slot_file("rootfs.1"), "bootname": "B"},
                        "appfs.0": {"device": s.slot_file("appfs.0"), "parent": "rootfs.0"},
                        "appfs.1": {"device": s.slot_file("appfs.1"), "parent": "rootfs.1"}})
    indir = tmp_path / "bin"
    indir.mkdir()
    (indir / "root.img").write_bytes(os.urandom(65536))
    (indir / "app.img").write_bytes(os.urandom(32768))
    (indir / "manifest.raucm").write_text(f"[update]\ncompatible={COMPATIBLE}\nversion=2.0\n\n[bundle]\n"
                                          "format=verity\n\n[image.rootfs]\nfilename=root.img\n\n"
                                          "[image.appfs]\nfilename=app.img\n")
    run("bundle", *signer_args(pki), indir, tmp_path / "b.raucb")
    s.install(tmp_path / "b.raucb")  # slot status for --detailed
    return s


@pytest.fixture
def rauc_service(child_system):
    s = child_system
    bus = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"], stdout=subprocess.PIPE,
                           text=True)
    env = {"DBUS_SESSION_BUS_ADDRESS": bus.stdout.readline().strip(), "DBUS_STARTER_BUS_TYPE": "session"}
    log = open(s.root / "rauc-service.log", "w")
    service = subprocess.Popen(["rauc", f"--conf={s.conf}", "service", "--override-boot-slot=A"],
                               env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 20
        while rauc("status", ok=False, env=env).returncode != 0:
            assert service.poll() is None and time.time() < deadline, (s.root / "rauc-service.log").read_text()
            time.sleep(0.1)
        yield env
    finally:
        service.terminate()
        service.wait(10)
        bus.terminate()
        bus.wait(10)


def slot_blocks(text):
    """{slot: [(indent, key), ...]} from readable status: each slot's header
    line and its detail lines, by indentation and key (values differ between
    1.8 and HEAD: sizes, (null), hash, transaction, TAB-indented lines)."""
    blocks, cur = {}, None
    for line in ANSI.sub("", text).splitlines():
        m = re.match(r"^(\S?)(\s*)\[([^\]]+)\] \(", line)
        if m:
            cur = m.group(3)
            blocks[cur] = [(len(m.group(1)) + len(m.group(2)), "header")]
            continue
        if cur is None or not line.strip() or line.startswith("\t"):
            if not line.strip():
                cur = None
            continue
        key = re.split(r"[=:]", line.strip(), 1)[0]
        if key in ("hash", "transaction", "bootname", "boot status"):  # 1.8: TAB-indented or missing
            continue
        blocks[cur].append((len(line) - len(line.lstrip(" ")), key))
    return blocks


@needs_rauc
def test_status_readable_children_like_rauc(child_system, rauc_service):
    theirs = slot_blocks(rauc("status", "--detailed", env=rauc_service).stdout)
    ours = slot_blocks(child_system.rota("status", "--detailed", "--override-boot-slot=A").stdout)
    assert set(ours) == {"rootfs.0", "rootfs.1", "appfs.0", "appfs.1"}
    for slot in ours:
        assert ours[slot] == theirs[slot], slot


@needs_rauc
def test_status_shell_numbers_like_rauc(child_system, rauc_service):
    theirs = shell_vars(rauc("status", "--detailed", "--output-format=shell", env=rauc_service).stdout)
    ours = shell_vars(child_system.rota("status", "--detailed", "--override-boot-slot=A",
                                        "--output-format=shell").stdout)

    def by_slot(v):
        names = v["RAUC_SYSTEM_SLOTS"].split()
        return {names[int(k.rsplit("_", 1)[1]) - 1]: (k.rsplit("_", 1)[0], val) for k, val in v.items()
                if k.startswith("RAUC_SLOT_STATUS_CHECKSUM_SIZE_")}

    assert by_slot(ours) == by_slot(theirs)
    assert by_slot(ours)["rootfs.0"][1] == "0"


@needs_rauc
def test_write_slot_without_booted_slot_like_rauc(tmp_path, pki):
    """RAUC's write-slot needs only the config: it works on a system whose
    kernel command line names no slot (rescue, factory)."""
    s = System(tmp_path / "sys", pki)
    s.write_conf()
    s.cmdline.write_text("console=ttyS0 quiet\n")
    img = tmp_path / "w.img"
    img.write_bytes(os.urandom(8192))
    r = s.rota("write-slot", "rootfs.1", img)
    assert "Slot written successfully" in r.stdout
    assert s.device("rootfs.1").read_bytes()[:8192] == img.read_bytes()
    # the same with rauc, whose /proc/cmdline names no slot here either
    assert "rauc.slot=" not in open("/proc/cmdline").read()
    p = rauc(f"--conf={s.conf}", "write-slot", "rootfs.0", img)
    assert "Slot written successfully" in p.stdout
