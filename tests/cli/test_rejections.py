"""Bad input to `rota bundle`, `info` and `extract`: each gets one clear
error line naming the file, field or offset, exit 1, and leaves nothing
half-written behind."""
import os
import shutil
import subprocess

import pytest

from conftest import fails, make_input, run, signer_args

KEYRING = "keyring.pem"


def keyring(pki):
    return f"--keyring={pki / KEYRING}"


# ---- bundle creation ----

def refuse_bundle(pki, indir, out, match, args=None):
    fails("bundle", *(args or signer_args(pki)), indir, out, match=match)
    assert not out.exists()
    assert not (indir / ".rota-workdir").exists()


def test_missing_manifest(tmp_path, pki):
    indir = make_input(tmp_path / "in")
    (indir / "manifest.raucm").unlink()
    refuse_bundle(pki, indir, tmp_path / "b.raucb", "manifest file is missing")


def test_empty_manifest(tmp_path, pki):
    indir = make_input(tmp_path / "in")
    (indir / "manifest.raucm").write_text("")
    refuse_bundle(pki, indir, tmp_path / "b.raucb", "manifest.raucm: manifest is empty")


def test_unknown_format(tmp_path, pki):
    indir = make_input(tmp_path / "in", fmt="squashy")
    refuse_bundle(pki, indir, tmp_path / "b.raucb", "Invalid format value 'squashy' in group '[bundle]'")


def test_unknown_key(tmp_path, pki):
    indir = make_input(tmp_path / "in", extra_manifest="[image.extra]\nfilename=appfs.img\ncolour=blue\n")
    refuse_bundle(pki, indir, tmp_path / "b.raucb", "Invalid key 'colour' in group '[image.extra]'")


def test_image_missing(tmp_path, pki):
    indir = make_input(tmp_path / "in")
    (indir / "appfs.img").unlink()
    refuse_bundle(pki, indir, tmp_path / "b.raucb", "image file 'appfs.img' for slot 'appfs' does not exist")


@pytest.mark.parametrize("name", ["../outside.img", "/etc/passwd", "sub/dir.img"])
def test_filename_with_path(tmp_path, pki, name):
    indir = make_input(tmp_path / "in", extra_manifest=f"[image.extra]\nfilename={name}\n")
    refuse_bundle(pki, indir, tmp_path / "b.raucb", f"Image filename {name} must not contain '/'")


def test_symlink_escaping_inputdir(tmp_path, pki):
    indir = make_input(tmp_path / "in")
    (tmp_path / "secret.img").write_bytes(b"x" * 4096)
    (indir / "appfs.img").unlink()
    (indir / "appfs.img").symlink_to("../secret.img")
    refuse_bundle(pki, indir, tmp_path / "b.raucb", "symlinks containing slashes are not supported")
    (indir / "appfs.img").unlink()
    (indir / "appfs.img").symlink_to(tmp_path / "secret.img")
    refuse_bundle(pki, indir, tmp_path / "b.raucb", "absolute symlinks are not supported")


def test_special_file_refused(tmp_path, pki):
    indir = make_input(tmp_path / "in")
    os.mkfifo(indir / "fifo")
    refuse_bundle(pki, indir, tmp_path / "b.raucb", "only regular files, directories and symlinks")


def test_key_does_not_match_cert(tmp_path, pki):
    indir = make_input(tmp_path / "in")
    args = [f"--cert={pki / 'signer.cert.pem'}", f"--key={pki / 'other.key.pem'}"]
    line = fails("bundle", *args, indir, tmp_path / "b.raucb", match="does not match")
    assert "other.key.pem" in line
    assert not (tmp_path / "b.raucb").exists()


def test_missing_cert(tmp_path, pki):
    indir = make_input(tmp_path / "in")
    fails("bundle", indir, tmp_path / "b.raucb", match="Cert and key files must be provided")


def test_output_exists_and_inside_input(tmp_path, pki):
    indir = make_input(tmp_path / "in")
    existing = tmp_path / "exists.raucb"
    existing.write_bytes(b"keep me")
    fails("bundle", *signer_args(pki), indir, existing, match="already exists")
    assert existing.read_bytes() == b"keep me"
    refuse_bundle(pki, indir, indir / "b.raucb", "outside input directory")


# ---- signer checks at info ----

@pytest.mark.parametrize("signer,match", [
    ("expired", "certificate has expired"),
    ("notyet", "certificate is not yet valid"),
    ("other", "unable to get local issuer certificate"),
    ("serverauth", "unsuitable certificate purpose"),
])
def test_bad_signer(tmp_path, pki, signer, match):
    indir = make_input(tmp_path / "in")
    bundle = tmp_path / "b.raucb"
    args = [f"--cert={pki / (signer + '.cert.pem')}", f"--key={pki / (signer + '.key.pem')}"]
    if signer != "other":
        args.append(f"--intermediate={pki / 'intermediate.pem'}")
    run("bundle", *args, indir, bundle)
    fails("info", keyring(pki), bundle, match=match)
    fails("extract", keyring(pki), bundle, tmp_path / "out", match=match)
    assert not (tmp_path / "out").exists()
    if signer in ("expired", "notyet"):
        run("info", keyring(pki), "--no-check-time", bundle)


def test_codesign_purpose(tmp_path, pki):
    indir = make_input(tmp_path / "in")
    bundle = tmp_path / "b.raucb"
    run("bundle", *signer_args(pki, "codesign"), indir, bundle)
    fails("info", keyring(pki), bundle, match="unsuitable certificate purpose")
    conf = tmp_path / "system.conf"
    conf.write_text(f"[system]\ncompatible=rota-test\nbootloader=noop\n[keyring]\npath={pki / KEYRING}\ncheck-purpose=codesign\n")
    run("--conf", conf, "info", bundle)


def test_revoked_signer(tmp_path, pki):
    indir = make_input(tmp_path / "in")
    bundle = tmp_path / "b.raucb"
    run("bundle", *signer_args(pki, "revoked"), indir, bundle)
    conf = tmp_path / "system.conf"
    conf.write_text(f"[system]\ncompatible=rota-test\nbootloader=noop\n[keyring]\npath={pki / 'keyring-crl.pem'}\ncheck-crl=true\n")
    fails("--conf", conf, "info", bundle, match="certificate revoked")
    good = tmp_path / "good.raucb"
    run("bundle", *signer_args(pki), make_input(tmp_path / "in2"), good)
    run("--conf", conf, "info", good)


# ---- damaged bundle files ----

def payload_size(data):
    return len(data) - 8 - int.from_bytes(data[-8:], "big")


def damaged(tmp_path, bundle, edit):
    data = bytearray(bundle.read_bytes())
    edit(data)
    out = tmp_path / "damaged.raucb"
    out.write_bytes(bytes(data))
    return out


def test_truncated_bundle(tmp_path, make_bundle, pki):
    bundle = make_bundle("verity")
    data = bundle.read_bytes()
    cut = tmp_path / "cut.raucb"
    cut.write_bytes(data[:len(data) - 100])
    fails("info", keyring(pki), cut, match="cut.raucb")
    cut.write_bytes(data[:5])
    fails("info", keyring(pki), cut, match="too small for a bundle")


def test_size_field_outside_file(tmp_path, make_bundle, pki):
    bundle = make_bundle("verity")
    out = damaged(tmp_path, bundle, lambda d: d.__setitem__(slice(-8, None), (len(d) * 2).to_bytes(8, "big")))
    fails("info", keyring(pki), out, match="exceeds bundle size")
    out = damaged(tmp_path, bundle, lambda d: d.__setitem__(slice(-8, None), (70000).to_bytes(8, "big")))
    # The file is smaller than 70000 bytes plus trailer, or the limit applies.
    fails("info", keyring(pki), out, match="Signature size (70000) exceeds")


def test_signature_too_large(tmp_path, make_bundle, pki):
    bundle = make_bundle("verity", images={"rootfs": ("rootfs.img", 200 * 1024)})
    out = damaged(tmp_path, bundle, lambda d: d.__setitem__(slice(-8, None), (65537).to_bytes(8, "big")))
    fails("info", keyring(pki), out, match="exceeds max-bundle-signature-size (65536)")


def test_empty_and_garbage_signature(tmp_path, make_bundle, pki):
    bundle = make_bundle("verity")
    out = damaged(tmp_path, bundle, lambda d: d.__setitem__(slice(-8, None), bytes(8)))
    fails("info", keyring(pki), out, match="Signature size is 0")

    def garbage(d):
        p = payload_size(d)
        d[p:len(d) - 8] = bytes((i * 37) & 0xff for i in range(len(d) - 8 - p))
    out = damaged(tmp_path, bundle, garbage)
    fails("info", keyring(pki), out, match="Signature data is no valid CMS")


def test_flipped_payload_byte_verity(tmp_path, make_bundle, pki):
    bundle = make_bundle("verity")
    offset = 3 * 4096 + 123
    out = damaged(tmp_path, bundle, lambda d: d.__setitem__(offset, d[offset] ^ 0x01))
    run("info", keyring(pki), out)  # the manifest is signed and intact
    fails("extract", keyring(pki), out, tmp_path / "x", match=f"data block at offset {3 * 4096}")
    assert not (tmp_path / "x").exists()


def test_flipped_hash_tree_byte(tmp_path, make_bundle, pki):
    bundle = make_bundle("verity")
    data = bundle.read_bytes()
    out = damaged(tmp_path, bundle, lambda d: d.__setitem__(payload_size(data) - 4096 + 7,
                                                            d[payload_size(data) - 4096 + 7] ^ 0x80))
    fails("extract", keyring(pki), out, tmp_path / "x", match="hash tree block at offset")


def test_flipped_signature_byte(tmp_path, make_bundle, pki):
    bundle = make_bundle("verity")
    # The signature value is the last element of the CMS: flip a byte near its end.
    out = damaged(tmp_path, bundle, lambda d: d.__setitem__(len(d) - 20, d[len(d) - 20] ^ 0x01))
    fails("info", keyring(pki), out, match="damaged.raucb")


def test_flipped_manifest_byte(tmp_path, make_bundle, pki):
    bundle = make_bundle("verity")
    data = bundle.read_bytes()
    at = data.rindex(b"compatible=rota-test") + len("compatible=")
    out = damaged(tmp_path, bundle, lambda d: d.__setitem__(at, ord("R")))
    fails("info", keyring(pki), out, match="signature verification failed")


def test_flipped_payload_byte_plain(tmp_path, make_bundle, pki):
    bundle = make_bundle("plain")
    out = damaged(tmp_path, bundle, lambda d: d.__setitem__(5000, d[5000] ^ 0x01))
    fails("info", keyring(pki), out, match="signature verification failed")
    fails("extract", keyring(pki), out, tmp_path / "x", match="signature verification failed")
    assert not (tmp_path / "x").exists()


def test_plain_payload_over_2gib(tmp_path, make_bundle, pki):
    """A plain payload beyond INT32_MAX is refused before any hashing (CVE-2026-34155)."""
    small = make_bundle("plain").read_bytes()
    cms = small[payload_size(small):]
    big = tmp_path / "big.raucb"
    with open(big, "wb") as f:
        f.truncate(2 * 1024 ** 3 + 4096)  # sparse
        f.seek(0, os.SEEK_END)
        f.write(cms)
    fails("info", keyring(pki), big, match="exceeds maximum for bundles using plain format (2 GiB)")


def test_extract_into_existing_dir(tmp_path, make_bundle, pki):
    bundle = make_bundle("verity")
    (tmp_path / "exists").mkdir()
    fails("extract", keyring(pki), bundle, tmp_path / "exists", match="output directory")


def test_missing_bundle(tmp_path, pki):
    fails("info", keyring(pki), tmp_path / "nope.raucb", match="No such file")


def test_plain_bundle_others_could_change_is_refused(tmp_path, make_bundle, pki):
    """A plain bundle is hashed once and read again later: a file that
    others may write could change in between, so it is refused (verity
    bundles check every block as it is read and need no such rule)."""
    plain = make_bundle("plain")
    os.chmod(plain, 0o664)
    fails("info", keyring(pki), plain, match="unsafe bundle permissions 0664")
    fails("extract", keyring(pki), plain, tmp_path / "x", match="unsafe bundle permissions")
    assert not (tmp_path / "x").exists()
    os.chmod(plain, 0o644)
    run("info", keyring(pki), plain)
    verity = make_bundle("verity")
    os.chmod(verity, 0o664)
    run("info", keyring(pki), verity)


def test_plain_bundle_open_for_writing_is_refused(tmp_path, make_bundle, pki):
    """A writer that opened the plain bundle before its owner and mode were
    checked could still change it after the hash (CVE-2020-25860): rota
    refuses while anyone holds it open for writing, and the same bundle
    passes once that writer is gone. A reader does not matter."""
    plain = make_bundle("plain")
    with open(plain, "r+b"):
        fails("info", keyring(pki), plain, match="unsafe bundle: existing open file descriptor")
        fails("extract", keyring(pki), plain, tmp_path / "x", match="existing open file descriptor")
    assert not (tmp_path / "x").exists()
    with open(plain, "rb"):
        run("info", keyring(pki), plain)
    verity = make_bundle("verity")
    with open(verity, "r+b"):
        run("info", keyring(pki), verity)  # every block is checked as it is read


def refused_on_device_others_own(tmp_path, plain, pki, mkfs, size_mib, subdir=None):
    """Loop-mounts a fresh file system made by mkfs, puts the plain bundle
    on it (in subdir, made by subdir(mnt), if given), checks that it is
    accepted while the loop device is root's and refused once it is not."""
    if os.geteuid() != 0 or not shutil.which(mkfs[0]) or not shutil.which("losetup"):
        pytest.skip(f"needs root, {mkfs[0]} and losetup")
    img = tmp_path / "fs.img"
    with open(img, "wb") as f:
        f.truncate(size_mib * 1024 * 1024)
    subprocess.run([*mkfs, str(img)], check=True, capture_output=True)
    r = subprocess.run(["losetup", "--find", "--show", str(img)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"no loop device: {r.stderr.strip()}")
    dev = r.stdout.strip()
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    try:
        if subprocess.run(["mount", dev, str(mnt)], capture_output=True).returncode != 0:
            pytest.skip(f"cannot mount a loop device made by {mkfs[0]}")
        try:
            on_dev = (subdir(mnt) if subdir else mnt) / "b.raucb"
            shutil.copyfile(plain, on_dev)
            os.chmod(on_dev, 0o644)
            run("info", keyring(pki), on_dev)  # root's device: fine
            os.chown(dev, 65534, -1)
            fails("info", keyring(pki), on_dev, match=f"unsafe uid 65534 for mounted device {dev}")
        finally:
            subprocess.run(["umount", str(mnt)], check=False)
    finally:
        os.chown(dev, 0, -1)
        subprocess.run(["losetup", "-d", dev], check=False)


def test_plain_bundle_on_device_others_own_is_refused(tmp_path, make_bundle, pki):
    """Whoever owns the block device a file system is mounted from can
    rewrite the bundle's blocks after the signature check, whatever the
    file's owner and mode say (e.g. a loop device a user set up through
    udisks): such a plain bundle is refused (bundle-format.md §8.4)."""
    refused_on_device_others_own(tmp_path, make_bundle("plain"), pki, ["mkfs.ext4", "-q"], 16)


def test_plain_bundle_in_btrfs_subvolume_on_device_others_own_is_refused(tmp_path, make_bundle, pki):
    """The same on btrfs with the bundle in a subvolume: the files of a
    subvolume have a device number of their own that no line of mountinfo
    carries, so the mount must be found another way than by st_dev."""
    def subvolume(mnt):
        subprocess.run(["btrfs", "-q", "subvolume", "create", str(mnt / "sub")], check=True)
        return mnt / "sub"
    refused_on_device_others_own(tmp_path, make_bundle("plain"), pki, ["mkfs.btrfs", "-q"], 128, subvolume)
