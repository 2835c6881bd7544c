"""`rota bundle`, `info`, `extract`, `extract-signature`, `resign` and
`replace-signature` as a user runs them."""
import hashlib
import json
import os
import stat
import subprocess

import pytest

from conftest import fails, make_input, run, signer_args


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_version():
    r = run("--version")
    assert r.stdout.startswith("rota ")


def test_unknown_command():
    fails("frobnicate", match="Invalid command 'frobnicate'")


@pytest.mark.parametrize("fmt", ["plain", "verity"])
def test_bundle_info_extract_roundtrip(tmp_path, pki, fmt):
    indir = make_input(tmp_path / "in", fmt)
    bundle = tmp_path / "b.raucb"
    r = run("bundle", *signer_args(pki), indir, bundle)
    assert f"Creating '{fmt}' format bundle" in r.stdout

    info = json.loads(run("info", f"--keyring={pki / 'keyring.pem'}", "--output-format=json", bundle).stdout)
    assert info["compatible"] == "rota-test"
    assert info["version"] == "2026.11-1"
    assert info["format"] == fmt
    images = {list(i.keys())[0]: list(i.values())[0] for i in info["images"]}
    assert images["rootfs"]["checksum"] == sha256(indir / "rootfs.ext4")
    assert images["rootfs"]["size"] == 300 * 1024
    assert images["rootfs"]["type"] == "ext4"
    assert images["appfs"]["checksum"] == sha256(indir / "appfs.img")
    assert len(info["hash"]) == 64

    out = tmp_path / "out"
    run("extract", f"--keyring={pki / 'keyring.pem'}", bundle, out)
    for name in ("rootfs.ext4", "appfs.img"):
        assert (out / name).read_bytes() == (indir / name).read_bytes()
    inner = (out / "manifest.raucm").read_text()
    assert f"sha256={sha256(indir / 'rootfs.ext4')}" in inner
    assert "verity-" not in inner  # the copy inside the payload is not authoritative
    # The input directory is left as it was.
    assert "sha256" not in (indir / "manifest.raucm").read_text()
    assert not (indir / ".rota-workdir").exists()


def test_bundle_layout(make_bundle):
    """payload | CMS | u64 BE size, the payload a multiple of 4096 (bundle-format.md §1)."""
    bundle = make_bundle("verity")
    data = bundle.read_bytes()
    sig_size = int.from_bytes(data[-8:], "big")
    payload = len(data) - 8 - sig_size
    assert payload % 4096 == 0
    assert data[:4] == b"hsqs"
    assert data[payload] == 0x30  # DER SEQUENCE


def test_info_readable_and_shell(make_bundle, pki):
    bundle = make_bundle("verity", extra_manifest="[meta.release]\nchannel=beta-1\n")
    r = run("info", f"--keyring={pki / 'keyring.pem'}", bundle)
    assert "Compatible:     'rota-test'" in r.stdout
    assert "Bundle Format:  verity" in r.stdout
    assert "Verity Hash:" in r.stdout
    assert "2 Images:" in r.stdout
    assert "Certificate Chain:" in r.stdout
    assert " 0 Subject:" in r.stdout and " 2 Subject:" in r.stdout
    assert "SPKI sha256:" in r.stdout
    assert "channel: beta-1" in r.stdout

    sh = run("info", f"--keyring={pki / 'keyring.pem'}", "--output-format=shell", bundle).stdout
    env = subprocess.run(["sh", "-c", sh + '\necho "$RAUC_MF_COMPATIBLE|$RAUC_MF_IMAGES|$RAUC_IMAGE_CLASS_0|'
                          '$RAUC_META_RELEASE_CHANNEL|$RAUC_MF_FORMAT"'], capture_output=True, text=True).stdout
    assert env.strip() == "rota-test|2|rootfs|beta-1|verity"

    pretty = run("info", f"--keyring={pki / 'keyring.pem'}", "--output-format=json-pretty", bundle).stdout
    assert json.loads(pretty)["compatible"] == "rota-test"
    fails("info", f"--keyring={pki / 'keyring.pem'}", "--output-format=xml", bundle, match="Unknown output format: 'xml'")


def test_info_no_verify(make_bundle):
    bundle = make_bundle("verity")
    r = run("info", "--no-verify", bundle)
    assert "Signature unverified" in r.stdout
    fails("info", bundle, match="No keyring file or directory provided")


def test_keyring_directory_and_conf(make_bundle, pki, tmp_path):
    bundle = make_bundle("plain")
    run("info", f"--keyring-directory={pki / 'keyring-dir'}", bundle)
    conf = tmp_path / "system.conf"
    conf.write_text(f"[system]\ncompatible=rota-test\nbootloader=noop\n\n[keyring]\npath={pki / 'keyring.pem'}\n")
    run("--conf", conf, "info", bundle)
    # A keyring in the config that does not trust the signer.
    conf.write_text(f"[system]\ncompatible=rota-test\nbootloader=noop\n\n[keyring]\npath={pki / 'other-root.pem'}\n")
    fails("--conf", conf, "info", bundle, match="signature verification failed")


@pytest.mark.parametrize("comp", ["gzip", "xz", "zstd", "lz4"])
def test_mksquashfs_args(tmp_path, pki, comp):
    indir = make_input(tmp_path / "in", "verity")
    bundle = tmp_path / "b.raucb"
    run("bundle", *signer_args(pki), f"--mksquashfs-args=-comp {comp} -b 65536", indir, bundle)
    s = subprocess.run(["unsquashfs", "-s", str(bundle)], capture_output=True, text=True).stdout
    assert f"Compression {comp}" in s
    assert "Block size 65536" in s
    out = tmp_path / "out"
    run("extract", f"--keyring={pki / 'keyring.pem'}", bundle, out)
    assert (out / "rootfs.ext4").read_bytes() == (indir / "rootfs.ext4").read_bytes()


def test_default_squashfs_is_gzip_128k(make_bundle):
    bundle = make_bundle("verity")
    s = subprocess.run(["unsquashfs", "-s", str(bundle)], capture_output=True, text=True).stdout
    assert "Compression gzip" in s and "Block size 131072" in s


def test_bad_mksquashfs_args(tmp_path, pki):
    indir = make_input(tmp_path / "in", "verity")
    fails("bundle", *signer_args(pki), "--mksquashfs-args=-comp brotli", indir, tmp_path / "b.raucb", match="brotli")
    fails("bundle", *signer_args(pki), "--mksquashfs-args=-b 3000", indir, tmp_path / "b.raucb", match="3000")
    fails("bundle", *signer_args(pki), "--mksquashfs-args=-frobnicate", indir, tmp_path / "b.raucb",
          match="-frobnicate")
    assert not (tmp_path / "b.raucb").exists()


def test_plain_is_default_with_warning(tmp_path, pki):
    indir = make_input(tmp_path / "in", fmt=None)
    bundle = tmp_path / "b.raucb"
    r = run("bundle", *signer_args(pki), indir, bundle)
    assert "Creating 'plain' format bundle" in r.stdout
    assert "verity" in r.stderr  # the recommendation
    info = json.loads(run("info", f"--keyring={pki / 'keyring.pem'}", "--output-format=json", bundle).stdout)
    assert info["format"] == "plain"


def test_encrypted_signer_key(tmp_path, pki):
    indir = make_input(tmp_path / "in", "verity")
    args = [f"--cert={pki / 'signer.cert.pem'}", f"--key={pki / 'signer-enc.key.pem'}",
            f"--intermediate={pki / 'intermediate.pem'}"]
    run("bundle", *args, indir, tmp_path / "b.raucb", env={"RAUC_KEY_PASSPHRASE": "rota-test"})
    run("info", f"--keyring={pki / 'keyring.pem'}", tmp_path / "b.raucb")


@pytest.mark.parametrize("fmt", ["plain", "verity"])
def test_resign(make_bundle, pki, tmp_path, fmt):
    bundle = make_bundle(fmt)
    out = tmp_path / "resigned.raucb"
    r = run("resign", *signer_args(pki, "signer-rsa"), f"--keyring={pki / 'keyring.pem'}", bundle, out)
    assert f"Resigning '{fmt}' format bundle" in r.stdout
    a, b = bundle.read_bytes(), out.read_bytes()
    pa = len(a) - 8 - int.from_bytes(a[-8:], "big")
    pb = len(b) - 8 - int.from_bytes(b[-8:], "big")
    assert pa == pb and a[:pa] == b[:pb]  # same payload
    assert a[pa:] != b[pb:]
    info = run("info", f"--keyring={pki / 'keyring.pem'}", out).stdout
    assert "CN = rota Test Signer signer-rsa" in info
    # The input must verify, unless told otherwise.
    other = make_bundle(fmt)
    fails("resign", *signer_args(pki), f"--keyring={pki / 'other-root.pem'}", other, tmp_path / "x.raucb",
          match="signature verification failed")
    assert not (tmp_path / "x.raucb").exists()
    run("resign", *signer_args(pki), "--no-verify", other, tmp_path / "y.raucb")
    run("info", f"--keyring={pki / 'keyring.pem'}", tmp_path / "y.raucb")


@pytest.mark.parametrize("fmt", ["plain", "verity"])
def test_resign_checks_the_new_signature_with_the_signing_keyring(make_bundle, pki, tmp_path, fmt):
    """--signing-keyring: the resigned bundle is verified with it before the
    command succeeds; a signer that keyring does not trust leaves nothing."""
    bundle = make_bundle(fmt)
    ok = tmp_path / "ok.raucb"
    run("resign", *signer_args(pki), f"--keyring={pki / 'keyring.pem'}",
        f"--signing-keyring={pki / 'keyring.pem'}", bundle, ok)
    run("info", f"--keyring={pki / 'keyring.pem'}", ok)
    bad = tmp_path / "bad.raucb"
    fails("resign", *signer_args(pki), f"--keyring={pki / 'keyring.pem'}",
          f"--signing-keyring={pki / 'other-root.pem'}", bundle, bad, match="signature verification failed")
    assert not bad.exists()


def test_extract_signature_and_replace(make_bundle, pki, tmp_path):
    bundle = make_bundle("verity")
    resigned = tmp_path / "resigned.raucb"
    run("resign", *signer_args(pki, "signer-rsa"), f"--keyring={pki / 'keyring.pem'}", bundle, resigned)
    sig = tmp_path / "sig.cms"
    run("extract-signature", f"--keyring={pki / 'keyring.pem'}", resigned, sig)
    assert stat.S_IMODE(os.stat(sig).st_mode) == 0o600
    parsed = subprocess.run(["openssl", "cms", "-cmsout", "-print", "-inform", "DER", "-in", str(sig)],
                            capture_output=True, text=True)
    assert parsed.returncode == 0 and "signedData" in parsed.stdout
    fails("extract-signature", f"--keyring={pki / 'keyring.pem'}", resigned, sig, match="exists")

    out = tmp_path / "replaced.raucb"
    run("replace-signature", f"--keyring={pki / 'keyring.pem'}", bundle, sig, out)
    assert out.read_bytes() == resigned.read_bytes()

    # A signature of another bundle does not fit this payload: refused, nothing left.
    other = make_bundle("plain")
    sig2 = tmp_path / "sig2.cms"
    run("extract-signature", f"--keyring={pki / 'keyring.pem'}", other, sig2)
    fails("replace-signature", f"--keyring={pki / 'keyring.pem'}", bundle, sig2, tmp_path / "bad.raucb",
          match="bad.raucb")
    assert not (tmp_path / "bad.raucb").exists()

    # The signature of another verity bundle verifies by itself (it signs a
    # manifest), but its root hash is not this payload's: refused, nothing left.
    other_verity = make_bundle("verity")
    sig3 = tmp_path / "sig3.cms"
    run("extract-signature", f"--keyring={pki / 'keyring.pem'}", other_verity, sig3)
    fails("replace-signature", f"--keyring={pki / 'keyring.pem'}", bundle, sig3, tmp_path / "bad2.raucb",
          match="bundle payload is corrupted")
    assert not (tmp_path / "bad2.raucb").exists()


def test_hooks_and_subdirectories(tmp_path, pki):
    indir = make_input(tmp_path / "in", "verity",
                       extra_manifest="[hooks]\nfilename=hooks/hook.sh\nhooks=install-check;\n")
    (indir / "hooks").mkdir()
    (indir / "hooks" / "hook.sh").write_text("#!/bin/sh\nexit 0\n")
    (indir / "hooks" / "hook.sh").chmod(0o755)
    (indir / "link").symlink_to("appfs.img")
    bundle = tmp_path / "b.raucb"
    run("bundle", *signer_args(pki), indir, bundle)
    info = json.loads(run("info", f"--keyring={pki / 'keyring.pem'}", "--output-format=json", bundle).stdout)
    assert info["hooks"] == ["install-check"]
    out = tmp_path / "out"
    run("extract", f"--keyring={pki / 'keyring.pem'}", bundle, out)
    assert (out / "hooks" / "hook.sh").read_text().startswith("#!/bin/sh")
    assert os.readlink(out / "link") == "appfs.img"
