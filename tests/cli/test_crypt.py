"""Encrypted (crypt) bundles end to end (issue 7, bundle-format.md §6):
`rota bundle` format=crypt, `rota encrypt` for RSA/EC recipients and PEM
files with many certificates, decryption with --key/--cert and [encryption],
every rejection (not a recipient, no key, wrong input, tampered ciphertext,
unencrypted install), the payload key never printed, 1,000 recipients, and
interop with Debian's rauc 1.8 in both directions."""
import filecmp
import json
import os
import pathlib
import random
import shutil
import struct
import subprocess

import pytest

from conftest import make_input, run, fails, signer_args
from system_fixture import COMPATIBLE, SLOT_SIZE, BundleMaker, System, random_image

IMG_SIZE = 300 * 1024


# ---- helpers ----

def openssl(*args, **kw):
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, check=True, **kw)


def make_recipient(d, name, kind):
    """A self-signed recipient certificate and key made with the openssl CLI."""
    key, cert = d / f"{name}.key.pem", d / f"{name}.cert.pem"
    newkey = {"rsa2048": ["rsa:2048"], "rsa4096": ["rsa:4096"],
              "p256": ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
              "p384": ["ec", "-pkeyopt", "ec_paramgen_curve:P-384"]}[kind]
    openssl("req", "-x509", "-newkey", *newkey, "-nodes", "-keyout", key, "-out", cert,
            "-subj", f"/O=rota Test/CN=recipient {name}", "-days", "3650")
    return key, cert


def cms_blob(bundle):
    """The CMS at the end of a bundle (what the u64be trailer points at)."""
    data = pathlib.Path(bundle).read_bytes()
    (size,) = struct.unpack(">Q", data[-8:])
    return data[-8 - size:-8], len(data) - 8 - size


def cms_print(blob, tmp):
    p = tmp / "cms.der"
    p.write_bytes(blob)
    return openssl("cms", "-cmsout", "-print", "-inform", "DER", "-in", p).stdout.decode()


def signed_manifest(bundle, tmp, *args):
    """The signed manifest of a bundle (via extract-signature; args may give --key)."""
    sig = tmp / "sig.der"
    if sig.exists():
        sig.unlink()
    run("extract-signature", *args, bundle, sig)
    out = openssl("cms", "-verify", "-noverify", "-inform", "DER", "-in", sig).stdout.decode()
    return dict(l.split("=", 1) for l in out.splitlines() if "=" in l)


def same_tree(a, b, manifest=False):
    """Same files with the same bytes; the bundle's manifest.raucm differs from
    the input's (it gains crypt-key and verity-*) unless manifest=True."""
    cmp = filecmp.dircmp(a, b)
    assert not cmp.left_only and not cmp.right_only, (cmp.left_only, cmp.right_only)
    files = [f for f in cmp.common_files if manifest or f != "manifest.raucm"]
    _, mismatch, errors = filecmp.cmpfiles(a, b, files, shallow=False)
    assert not mismatch and not errors, (mismatch, errors)


def rauc(*args, ok=True):
    p = subprocess.run(["rauc", *map(str, args)], capture_output=True, text=True, timeout=300)
    if ok:
        assert p.returncode == 0, p.stderr
    return p


needs_rauc = pytest.mark.skipif(shutil.which("rauc") is None, reason="Debian's rauc is not installed")


@pytest.fixture(scope="session")
def recipients(tmp_path_factory):
    """One recipient of each kind, plus a PEM file holding three more."""
    d = tmp_path_factory.mktemp("recipients")
    r = {kind: make_recipient(d, kind, kind) for kind in ("rsa2048", "rsa4096", "p256", "p384")}
    multi = []
    for i, kind in enumerate(("p256", "rsa2048", "p384")):
        multi.append(make_recipient(d, f"multi{i}", kind))
    pem = d / "multi.pem"
    pem.write_text("".join(c.read_text() for _, c in multi))
    for i, m in enumerate(multi):
        r[f"multi{i}"] = m
    r["stranger"] = make_recipient(d, "stranger", "p256")
    r["stranger-rsa"] = make_recipient(d, "stranger-rsa", "rsa2048")
    return d, r, pem


@pytest.fixture
def keyring(pki):
    return f"--keyring={pki / 'keyring.pem'}"


def crypt_bundle(tmp_path, pki, name="crypt.raucb", seed=1):
    indir = make_input(tmp_path / f"in-{name}", "crypt", seed=seed)
    out = tmp_path / name
    r = run("bundle", *signer_args(pki), indir, out)
    return out, indir


# ---- unencrypted crypt bundles ----

def test_unencrypted_crypt_bundle_info(tmp_path, pki, keyring):
    b, indir = crypt_bundle(tmp_path, pki)
    r = run("info", keyring, b)
    assert "Bundle Format:  crypt [unencrypted CMS]" in r.stdout
    assert json.loads(run("info", keyring, "--output-format=json", b).stdout)["format"] == "crypt"
    # the CMS is a bare SignedData; the manifest carries the key and the verity data
    blob, payload_size = cms_blob(b)
    assert "contentType: pkcs7-signedData" in cms_print(blob, tmp_path)
    mf = signed_manifest(b, tmp_path, keyring)
    assert mf["format"] == "crypt" and len(mf["crypt-key"]) == 64
    assert int(mf["crypt-key"], 16) != 0
    # the payload is not a plain squashfs: it starts with ciphertext, not 'hsqs'
    assert b.read_bytes()[:4] != b"hsqs"
    assert (payload_size - int(mf["verity-size"])) % 4096 == 0
    # extract (stage one bundles are readable: the key is in the signed manifest)
    run("extract", keyring, b, tmp_path / "out")
    same_tree(tmp_path / "out", indir)


def test_payload_is_aes_cbc_plain64(tmp_path, pki, keyring):
    """Decrypt the first two blocks with the openssl CLI and the spec's IVs."""
    b, _ = crypt_bundle(tmp_path, pki)
    key = signed_manifest(b, tmp_path, keyring)["crypt-key"]
    data = b.read_bytes()
    mf = signed_manifest(b, tmp_path, keyring)
    _, payload_size = cms_blob(b)
    data_size = payload_size - int(mf["verity-size"])
    plain = bytearray()
    for block in range(data_size // 4096):
        iv = (block * 8).to_bytes(8, "little").hex() + "00" * 8
        if block < 3:
            assert iv == ["00" * 16, "08" + "00" * 15, "10" + "00" * 15][block]
        (tmp_path / "blk").write_bytes(data[block * 4096:(block + 1) * 4096])
        plain += openssl("enc", "-d", "-aes-256-cbc", "-nopad", "-K", key, "-iv", iv, "-in", tmp_path / "blk").stdout
    assert plain[:4] == b"hsqs"
    # the decrypted data area is the squashfs with the input's files
    (tmp_path / "plain.sqfs").write_bytes(bytes(plain))
    subprocess.run(["unsquashfs", "-no-progress", "-d", tmp_path / "sq", tmp_path / "plain.sqfs"], check=True,
                   capture_output=True)
    same_tree(tmp_path / "sq", tmp_path / "in-crypt.raucb")
    # two bundles of the same input get different keys and different ciphertext
    b2, _ = crypt_bundle(tmp_path, pki, name="again.raucb")
    assert signed_manifest(b2, tmp_path, keyring)["crypt-key"] != key
    assert b2.read_bytes()[:4096] != data[:4096]


# ---- rota encrypt ----

def test_encrypt_all_key_types_and_multi_pem(tmp_path, pki, keyring, recipients):
    d, r, pem = recipients
    b, indir = crypt_bundle(tmp_path, pki)
    enc = tmp_path / "enc.raucb"
    tos = [f"--to={r[k][1]}" for k in ("rsa2048", "rsa4096", "p256", "p384")] + [f"--to={pem}"]
    out = run("encrypt", keyring, *tos, b, enc).stdout
    assert "Encrypted bundle for 7 recipients written to" in out

    # the payload is copied unchanged; only the CMS differs
    blob, payload_size = cms_blob(enc)
    _, plain_payload_size = cms_blob(b)
    assert payload_size == plain_payload_size
    with open(b, "rb") as f1, open(enc, "rb") as f2:
        assert f1.read(payload_size) == f2.read(payload_size)
    printed = cms_print(blob, tmp_path)
    assert "contentType: pkcs7-envelopedData" in printed
    assert printed.count("d.ktri:") == 3   # RSA: key transport (rsa2048, rsa4096, multi1)
    assert printed.count("d.kari:") == 4   # EC: key agreement (p256, p384, multi0, multi2)
    assert "aes-256-cbc" in printed

    for name in ("rsa2048", "rsa4096", "p256", "p384", "multi0", "multi1", "multi2"):
        key, cert = r[name]
        a = run("info", keyring, f"--key={key}", f"--cert={cert}", enc)
        assert "Bundle Format:  crypt [encrypted CMS]" in a.stdout, name
        bk = run("info", keyring, f"--key={key}", enc)
        assert bk.stdout == a.stdout
        outdir = tmp_path / f"out-{name}"
        run("extract", keyring, f"--key={key}", enc, outdir)
        same_tree(outdir, indir)
    # extract with --cert too
    run("extract", keyring, f"--key={r['p384'][0]}", f"--cert={r['p384'][1]}", enc, tmp_path / "out-cert")
    same_tree(tmp_path / "out-cert", indir)
    # the inner SignedData equals the unencrypted bundle's
    m1 = signed_manifest(enc, tmp_path, keyring, f"--key={r['p256'][0]}")
    m2 = signed_manifest(b, tmp_path, keyring)
    assert m1 == m2


def test_rejections(tmp_path, pki, keyring, recipients, make_bundle):
    d, r, pem = recipients
    b, _ = crypt_bundle(tmp_path, pki)
    enc = tmp_path / "enc.raucb"
    run("encrypt", keyring, f"--to={r['p256'][1]}", f"--to={r['rsa2048'][1]}", b, enc)

    # not a recipient, with a certificate: said so
    for who in ("stranger", "stranger-rsa"):
        key, cert = r[who]
        line = fails("info", keyring, f"--key={key}", f"--cert={cert}", enc, match="not a recipient")
        assert f"recipient {who}" in line
        fails("extract", keyring, f"--key={key}", f"--cert={cert}", enc, tmp_path / "x", match="not a recipient")
    # without a certificate OpenSSL cannot tell: decryption fails and says so
    for who in ("stranger", "stranger-rsa"):
        fails("info", keyring, f"--key={r[who][0]}", enc, match="Failed to decrypt CMS EnvelopedData")
    # key and certificate of different recipients
    fails("info", keyring, f"--key={r['stranger'][0]}", f"--cert={r['p256'][1]}", enc, match="does not match")
    # no key at all
    fails("info", keyring, enc, match="no decryption key given")
    fails("extract", keyring, enc, tmp_path / "y", match="no decryption key given")
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()

    # encrypt: no recipients
    fails("encrypt", keyring, b, tmp_path / "o0.raucb", match="recipient certificates must be provided")
    # encrypt refuses verity and plain input
    for fmt in ("verity", "plain"):
        vb = make_bundle(fmt)
        fails("encrypt", keyring, f"--to={r['p256'][1]}", vb, tmp_path / f"o-{fmt}.raucb",
              match="not in 'crypt' format")
        assert not (tmp_path / f"o-{fmt}.raucb").exists()
    # already encrypted
    fails("encrypt", keyring, f"--key={r['p256'][0]}", f"--to={r['p384'][1]}", enc, tmp_path / "o1.raucb",
          match="encrypted already")
    assert not (tmp_path / "o1.raucb").exists()
    # unverifiable input: untrusted keyring, or no keyring
    fails("encrypt", f"--keyring={pki / 'other-root.pem'}", f"--to={r['p256'][1]}", b, tmp_path / "o2.raucb",
          match="signature verification failed")
    assert not (tmp_path / "o2.raucb").exists()
    fails("encrypt", f"--to={r['p256'][1]}", b, tmp_path / "o3.raucb", match="No keyring")
    assert not (tmp_path / "o3.raucb").exists()
    # a signed bundle by an untrusted signer ('other' is issued by other-root)
    other = tmp_path / "other.raucb"
    run("bundle", f"--cert={pki / 'other.cert.pem'}", f"--key={pki / 'other.key.pem'}",
        make_input(tmp_path / "in-other", "crypt"), other)
    fails("encrypt", keyring, f"--to={r['p256'][1]}", other, tmp_path / "o4.raucb",
          match="signature verification failed")
    assert not (tmp_path / "o4.raucb").exists()
    # a recipient file that is not a certificate
    (tmp_path / "junk.pem").write_text("not a certificate\n")
    fails("encrypt", keyring, f"--to={tmp_path / 'junk.pem'}", b, tmp_path / "o5.raucb", match="No certificate found")
    assert not (tmp_path / "o5.raucb").exists()
    fails("encrypt", keyring, f"--to={tmp_path / 'missing.pem'}", b, tmp_path / "o6.raucb", match="missing.pem")
    assert not (tmp_path / "o6.raucb").exists()


@pytest.mark.parametrize("where", ["first", "middle", "last", "tree"])
def test_ciphertext_tampering_caught_by_verity(tmp_path, pki, keyring, recipients, where):
    d, r, _ = recipients
    b, _ = crypt_bundle(tmp_path, pki)
    enc = tmp_path / "enc.raucb"
    run("encrypt", keyring, f"--to={r['p256'][1]}", b, enc)
    mf = signed_manifest(enc, tmp_path, keyring, f"--key={r['p256'][0]}")
    _, payload_size = cms_blob(enc)
    data_size = payload_size - int(mf["verity-size"])
    off = {"first": 17, "middle": (data_size // 2 // 4096) * 4096 + 1000, "last": data_size - 1,
           "tree": data_size + 5}[where]
    data = bytearray(enc.read_bytes())
    data[off] ^= 0x40
    enc.write_bytes(bytes(data))
    key = f"--key={r['p256'][0]}"
    line = fails("extract", keyring, key, enc, tmp_path / "out", match="bundle payload is corrupted")
    assert not (tmp_path / "out").exists(), "nothing may be extracted from a tampered bundle"
    assert "does not match the signed root hash" in line, line
    if where != "tree":
        assert f"data block at offset {off // 4096 * 4096} " in line, line
    else:
        assert "hash tree block at offset" in line, line
    # no squashfs/decryption-level error shows up: verity stopped it first
    assert "squashfs" not in line.lower()


# ---- install ----

def crypt_for_system(tmp_path, pki, img, name="c.raucb"):
    bm = BundleMaker(tmp_path / ("bundles-" + name), pki)
    return bm({"rootfs": ("rootfs.img", img)}, version="1.0", fmt="crypt", name=name)


@pytest.fixture
def img(tmp_path):
    return random_image(tmp_path / "rootfs.img", IMG_SIZE, 11)


def make_system(tmp_path, pki, key=None, cert=None, system_extra="", name="sys"):
    s = System(tmp_path / name, pki)
    sec = ""
    if key or cert:
        sec = "[encryption]\n" + (f"key={key}\n" if key else "") + (f"cert={cert}\n" if cert else "")
    s.write_conf(sections=sec, system_extra=system_extra)
    return s


def test_unencrypted_crypt_refused_for_install(tmp_path, pki, recipients, img):
    d, r, _ = recipients
    s = make_system(tmp_path, pki, *r["p256"])
    b = crypt_for_system(tmp_path, pki, img)
    s.fails("install", b, match="Refusing to install unencrypted crypt bundles")
    assert s.device("rootfs.1").read_bytes() == b"\0" * SLOT_SIZE
    assert s.primary() == "A"


@pytest.mark.parametrize("kind", ["p256", "rsa2048"])
@pytest.mark.parametrize("with_cert", [True, False])
def test_encrypted_bundle_installs(tmp_path, pki, recipients, img, kind, with_cert):
    d, r, _ = recipients
    key, cert = r[kind]
    s = make_system(tmp_path, pki, key, cert if with_cert else None)
    b = crypt_for_system(tmp_path, pki, img)
    enc = tmp_path / "enc.raucb"
    run("encrypt", f"--keyring={pki / 'keyring.pem'}", f"--to={r['rsa4096'][1]}", f"--to={cert}", b, enc)
    res = s.install(enc)
    assert "succeeded" in res.stdout
    dev = s.device("rootfs.1").read_bytes()
    assert dev[:IMG_SIZE] == img and dev[IMG_SIZE:] == b"\0" * (SLOT_SIZE - IMG_SIZE)
    assert s.device("rootfs.0").read_bytes() == b"\0" * SLOT_SIZE
    assert s.primary() == "B"
    # info through the config's [encryption] key
    assert "crypt [encrypted CMS]" in s.rota("info", enc).stdout


def test_install_rejections_for_encrypted(tmp_path, pki, recipients, img):
    d, r, _ = recipients
    b = crypt_for_system(tmp_path, pki, img)
    enc = tmp_path / "enc.raucb"
    run("encrypt", f"--keyring={pki / 'keyring.pem'}", f"--to={r['p256'][1]}", b, enc)
    # no [encryption] section
    s = make_system(tmp_path, pki, name="nokey")
    s.fails("install", enc, match="no decryption key given")
    # a device that is not a recipient
    s = make_system(tmp_path, pki, *r["stranger"], name="stranger")
    s.fails("install", enc, match="not a recipient")
    assert s.device("rootfs.1").read_bytes() == b"\0" * SLOT_SIZE
    # tampered ciphertext: verity stops the install, the slot keeps no decrypted bytes
    s = make_system(tmp_path, pki, *r["p256"], name="tamper")
    data = bytearray(enc.read_bytes())
    data[8192 + 3] ^= 1
    bad = tmp_path / "bad.raucb"
    bad.write_bytes(bytes(data))
    res = s.rota("install", bad, ok=False)
    assert res.returncode == 1
    assert "offset 8192" in res.stderr, res.stderr
    assert img[:4096] not in s.device("rootfs.1").read_bytes()
    assert s.primary() == "A"


# ---- the key never leaks ----

def test_crypt_key_never_printed(tmp_path, pki, recipients, img):
    d, r, _ = recipients
    key, cert = r["p256"]
    s = make_system(tmp_path, pki, key, cert)
    b = crypt_for_system(tmp_path, pki, img)
    ring = f"--keyring={pki / 'keyring.pem'}"
    secret = signed_manifest(b, tmp_path, ring)["crypt-key"]
    assert len(secret) == 64
    needles = [secret, secret.upper(), secret[:32], secret[32:]]
    enc = tmp_path / "enc.raucb"
    outputs = [run("encrypt", ring, f"--to={cert}", b, enc), run("--debug", "encrypt", ring, f"--to={cert}", b,
                                                                     tmp_path / "enc2.raucb")]
    for bundle_ in (b, enc):
        for fmt in ("readable", "shell", "json", "json-pretty"):
            for dbg in ((), ("--debug",)):
                outputs.append(run(*dbg, "info", ring, f"--key={key}", f"--output-format={fmt}", bundle_))
    outputs.append(run("--debug", "extract", ring, f"--key={key}", enc, tmp_path / "x"))
    outputs.append(s.install(enc))
    outputs.append(s.rota("--debug", "install", enc))
    outputs.append(s.rota("--debug", "status", "--detailed"))
    for o in outputs:
        for n in needles:
            assert n not in o.stdout and n not in o.stderr
    # nor in anything the install left on disk (status files, logs)
    for p in s.data.rglob("*"):
        if p.is_file():
            text = p.read_bytes()
            assert secret.encode() not in text and secret.upper().encode() not in text
    # readable info shows the key as hidden
    assert "Crypt Key:    '<hidden>'" in outputs[2].stdout


# ---- 1,000 recipients ----

@pytest.fixture(scope="session")
def many_recipients(tmp_path_factory):
    """1,000 P-256 recipients, each with its own key (python3-cryptography)."""
    crypto = pytest.importorskip("cryptography")
    import datetime
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    d = tmp_path_factory.mktemp("many")
    now = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)
    certs, keys = [], []
    for i in range(1000):
        k = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"device {i:04d}")])
        c = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(k.public_key())
             .serial_number(x509.random_serial_number()).not_valid_before(now)
             .not_valid_after(now + datetime.timedelta(days=3650)).sign(k, hashes.SHA256()))
        kp = d / f"dev{i:04d}.key.pem"
        kp.write_bytes(k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
        cp = d / f"dev{i:04d}.cert.pem"
        cp.write_bytes(c.public_bytes(serialization.Encoding.PEM))
        certs.append(cp)
        keys.append(kp)
    # 1,000 certificates in two PEM files (600 + 400): every one counts
    (d / "fleet-a.pem").write_text("".join(p.read_text() for p in certs[:600]))
    (d / "fleet-b.pem").write_text("".join(p.read_text() for p in certs[600:]))
    return d, keys, certs


def test_thousand_recipients(tmp_path, pki, many_recipients, img):
    d, keys, certs = many_recipients
    ring = f"--keyring={pki / 'keyring.pem'}"
    b = crypt_for_system(tmp_path, pki, img)
    enc = tmp_path / "enc.raucb"
    out = run("encrypt", ring, f"--to={d / 'fleet-a.pem'}", f"--to={d / 'fleet-b.pem'}", b, enc).stdout
    assert "Encrypted bundle for 1000 recipients" in out
    blob, _ = cms_blob(enc)
    assert len(blob) > 65536
    printed = cms_print(blob, tmp_path)
    assert printed.count("d.kari:") == 1000

    # the default limit (64 KiB) refuses the CMS and says which setting to raise
    line = fails("info", ring, f"--key={keys[0]}", enc, match="max-bundle-signature-size")
    assert f"({len(blob)})" in line and "(65536)" in line
    s0 = make_system(tmp_path, pki, keys[1], certs[1], name="default-limit")
    s0.fails("install", enc, match="exceeds max-bundle-signature-size")

    rng = random.Random(os.environ.get("ROTA_TEST_SEED", "crypt"))
    picked = rng.sample(range(1000), 4)
    extra = "max-bundle-signature-size=1048576"
    for n, i in enumerate(picked):
        s = make_system(tmp_path, pki, keys[i], certs[i] if n % 2 == 0 else None, system_extra=extra,
                        name=f"dev{i}")
        assert "crypt [encrypted CMS]" in s.rota("info", enc).stdout
        if n < 2:
            s.install(enc)
            assert s.device("rootfs.1").read_bytes()[:IMG_SIZE] == img
            assert s.primary() == "B"
    # a stranger is still told it is not a recipient
    stranger_key, stranger_cert = make_recipient(tmp_path, "outsider", "p256")
    s = make_system(tmp_path, pki, stranger_key, stranger_cert, system_extra=extra, name="outsider")
    s.fails("info", enc, match="not a recipient")


# ---- interop with rauc 1.8 ----

@needs_rauc
def test_rauc_made_and_encrypted_bundle_works_with_rota(tmp_path, pki, recipients, img):
    d, r, _ = recipients
    ring = f"--keyring={pki / 'keyring.pem'}"
    indir = tmp_path / "in"
    indir.mkdir()
    (indir / "rootfs.img").write_bytes(img)
    (indir / "manifest.raucm").write_text(f"[update]\ncompatible={COMPATIBLE}\nversion=1.0\n\n[bundle]\n"
                                          "format=crypt\n\n[image.rootfs]\nfilename=rootfs.img\n")
    plain = tmp_path / "rauc.raucb"
    rauc("bundle", *signer_args(pki), indir, plain)
    assert "crypt [unencrypted CMS]" in run("info", ring, plain).stdout
    enc = tmp_path / "rauc-enc.raucb"
    rauc("encrypt", ring, f"--to={r['p256'][1]}", f"--to={r['rsa2048'][1]}", plain, enc)
    for kind in ("p256", "rsa2048"):
        key, cert = r[kind]
        info = run("info", ring, f"--key={key}", enc).stdout
        assert "crypt [encrypted CMS]" in info and "rootfs.img" in info
        run("extract", ring, f"--key={key}", f"--cert={cert}", enc, tmp_path / f"out-{kind}")
        assert (tmp_path / f"out-{kind}" / "rootfs.img").read_bytes() == img
    fails("info", ring, f"--key={r['stranger'][0]}", f"--cert={r['stranger'][1]}", enc, match="not a recipient")
    s = make_system(tmp_path, pki, *r["p256"])
    s.fails("install", plain, match="Refusing to install unencrypted crypt bundles")
    s.install(enc)
    assert s.device("rootfs.1").read_bytes()[:IMG_SIZE] == img and s.primary() == "B"


@needs_rauc
def test_rota_encrypted_bundle_passes_rauc(tmp_path, pki, recipients):
    d, r, pem = recipients
    ring = f"--keyring={pki / 'keyring.pem'}"
    b, indir = crypt_bundle(tmp_path, pki)
    enc = tmp_path / "enc.raucb"
    run("encrypt", ring, f"--to={r['rsa4096'][1]}", f"--to={r['p384'][1]}", f"--to={pem}", b, enc)
    # rauc reads rota's unencrypted crypt bundle too
    rauc("extract", ring, b, tmp_path / "rauc-plain")
    same_tree(tmp_path / "rauc-plain", indir)
    for name in ("rsa4096", "p384", "multi0", "multi1"):
        key, _ = r[name]
        p = rauc("info", ring, f"--key={key}", "--output-format=json", enc)
        assert '"compatible":"rota-test"' in p.stdout, p.stdout
        rauc("extract", ring, f"--key={key}", enc, tmp_path / f"rauc-{name}")
        run("extract", ring, f"--key={key}", enc, tmp_path / f"rota-{name}")
        same_tree(tmp_path / f"rauc-{name}", tmp_path / f"rota-{name}", manifest=True)
        same_tree(tmp_path / f"rauc-{name}", indir)
    p = rauc("info", ring, f"--key={r['stranger'][0]}", enc, ok=False)
    assert p.returncode != 0
    p = rauc("info", ring, "--dump-recipients", f"--key={r['p384'][0]}", enc)
    assert "5 Recipients:" in p.stdout  # rsa4096, p384 and the three in multi.pem


@needs_rauc
def test_rauc_encrypt_of_rota_bundle(tmp_path, pki, recipients, img):
    d, r, _ = recipients
    ring = f"--keyring={pki / 'keyring.pem'}"
    b = crypt_for_system(tmp_path, pki, img)
    enc = tmp_path / "rauc-enc.raucb"
    rauc("encrypt", ring, f"--to={r['p256'][1]}", f"--to={r['rsa4096'][1]}", b, enc)
    # the payload is unchanged and rota decrypts the envelope rauc wrote
    _, ps = cms_blob(enc)
    assert enc.read_bytes()[:ps] == b.read_bytes()[:ps]
    for kind in ("p256", "rsa4096"):
        assert "crypt [encrypted CMS]" in run("info", ring, f"--key={r[kind][0]}", enc).stdout
        run("extract", ring, f"--key={r[kind][0]}", enc, tmp_path / f"out-{kind}")
        assert (tmp_path / f"out-{kind}" / "rootfs.img").read_bytes() == img
    s = make_system(tmp_path, pki, *r["rsa4096"])
    s.install(enc)
    assert s.device("rootfs.1").read_bytes()[:IMG_SIZE] == img and s.primary() == "B"
