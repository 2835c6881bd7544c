"""Interop with Debian's rauc 1.8, both ways: rota's bundles pass `rauc info`
and `rauc extract`; rauc's bundles pass `rota info` and `rota extract` with
the same facts."""
import filecmp
import json
import shutil
import subprocess

import pytest

from conftest import make_input, run, signer_args

pytestmark = pytest.mark.skipif(shutil.which("rauc") is None, reason="never: make test installs rauc")


def rauc(*args, ok=True):
    p = subprocess.run(["rauc", *map(str, args)], capture_output=True, text=True, timeout=300)
    if ok:
        assert p.returncode == 0, p.stderr
    return p


def same_tree(a, b):
    cmp = filecmp.dircmp(a, b)
    assert not cmp.left_only and not cmp.right_only, (cmp.left_only, cmp.right_only)
    match, mismatch, errors = filecmp.cmpfiles(a, b, cmp.common_files, shallow=False)
    assert not mismatch and not errors, (mismatch, errors)
    for sub in cmp.common_dirs:
        same_tree(a / sub, b / sub)


def test_no_skip():
    assert shutil.which("rauc"), "Debian's rauc must be installed for the interop tests"


@pytest.mark.parametrize("fmt", ["plain", "verity"])
@pytest.mark.parametrize("comp", ["gzip", "xz"])
def test_rota_bundle_passes_rauc(tmp_path, pki, fmt, comp):
    indir = make_input(tmp_path / "in", fmt)
    bundle = tmp_path / "b.raucb"
    run("bundle", *signer_args(pki), f"--mksquashfs-args=-comp {comp}", indir, bundle)
    info = json.loads(rauc("info", f"--keyring={pki / 'keyring.pem'}", "--output-format=json", bundle).stdout)
    assert info["compatible"] == "rota-test"
    ours = json.loads(run("info", f"--keyring={pki / 'keyring.pem'}", "--output-format=json", bundle).stdout)
    assert info["images"] == [{k: {f: v[f] for f in ("variant", "filename", "checksum", "size", "hooks", "adaptive")}}
                              for i in ours["images"] for k, v in i.items()]
    rauc("extract", f"--keyring={pki / 'keyring.pem'}", bundle, tmp_path / "rauc-out")
    run("extract", f"--keyring={pki / 'keyring.pem'}", bundle, tmp_path / "rota-out")
    same_tree(tmp_path / "rauc-out", tmp_path / "rota-out")
    for name in ("rootfs.ext4", "appfs.img"):
        assert (tmp_path / "rauc-out" / name).read_bytes() == (indir / name).read_bytes()


def test_rota_resigned_bundle_passes_rauc(tmp_path, pki, make_bundle):
    bundle = make_bundle("verity")
    out = tmp_path / "resigned.raucb"
    run("resign", *signer_args(pki, "signer-rsa"), f"--keyring={pki / 'keyring.pem'}", bundle, out)
    rauc("info", f"--keyring={pki / 'keyring.pem'}", out)


def test_rauc_rejects_rota_bundle_with_untrusted_keyring(tmp_path, pki, make_bundle):
    bundle = make_bundle("verity")
    p = rauc("info", f"--keyring={pki / 'other-root.pem'}", bundle, ok=False)
    assert p.returncode != 0


@pytest.mark.parametrize("fmt", ["plain", "verity"])
def test_rauc_bundle_passes_rota(tmp_path, pki, fmt):
    indir = make_input(tmp_path / "in", fmt, extra_manifest="[hooks]\nfilename=hook.sh\n")
    (indir / "hook.sh").write_text("#!/bin/sh\n")
    (indir / "sub").mkdir()
    (indir / "sub" / "notes.txt").write_text("hello\n")
    bundle = tmp_path / "rauc.raucb"
    rauc("bundle", *signer_args(pki), "--mksquashfs-args=-comp xz -b 65536", indir, bundle)

    theirs = json.loads(rauc("info", f"--keyring={pki / 'keyring.pem'}", "--output-format=json", bundle).stdout)
    ours = json.loads(run("info", f"--keyring={pki / 'keyring.pem'}", "--output-format=json", bundle).stdout)
    for key in ("compatible", "version", "description", "build", "hooks"):
        assert ours[key] == theirs[key], key
    assert ours["format"] == fmt
    assert [(k, v["filename"], v["size"], v["checksum"]) for i in ours["images"] for k, v in i.items()] == \
           [(k, v["filename"], v["size"], v["checksum"]) for i in theirs["images"] for k, v in i.items()]

    run("extract", f"--keyring={pki / 'keyring.pem'}", bundle, tmp_path / "rota-out")
    rauc("extract", f"--keyring={pki / 'keyring.pem'}", bundle, tmp_path / "rauc-out")
    same_tree(tmp_path / "rota-out", tmp_path / "rauc-out")


def test_rauc_bundle_readable_output(tmp_path, pki):
    indir = make_input(tmp_path / "in", "verity")
    bundle = tmp_path / "rauc.raucb"
    rauc("bundle", *signer_args(pki), indir, bundle)
    out = run("info", f"--keyring={pki / 'keyring.pem'}", bundle).stdout
    theirs = rauc("info", f"--keyring={pki / 'keyring.pem'}", bundle).stdout
    # Same verity parameters and same signer chain.
    for line in theirs.splitlines():
        if "Verity" in line or "Subject:" in line or "SPKI" in line:
            key, value = line.split(":", 1)
            assert value.strip() in out, line
