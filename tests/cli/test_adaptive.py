"""Adaptive updates (block-hash-index): the device writes only the 4 KiB
chunks it does not already hold, whatever version it runs now, and every
chunk taken from a local slot is checked again before use."""
import hashlib
import os
import random
import re
import shutil
import subprocess

import pytest

from conftest import ROTA, fails, make_input, run, signer_args
from system_fixture import COMPATIBLE, System, bundle  # noqa: F401 (fixture)

SIZE = 8 * 1024 * 1024
CHUNK = 4096
ADAPTIVE = {"rootfs": "adaptive=block-hash-index;"}


def ext4_image(path, version, changed_fraction=0.05, base_seed=7):
    """An ext4 image of 200 files; `version` n changes about changed_fraction
    of the files of version n-1 (the way a package update does)."""
    tree = path.parent / f"tree-{path.stem}"
    if tree.exists():
        shutil.rmtree(tree)
    rng = random.Random(base_seed)
    files = {f"usr/lib/pkg{i // 30}/file{i}.bin": rng.randbytes(rng.randint(2000, 30000)) for i in range(200)}
    for v in range(1, version + 1):
        vr = random.Random(1000 + v)
        for name in vr.sample(sorted(files), int(len(files) * changed_fraction)):
            files[name] = vr.randbytes(len(files[name]) + vr.randint(-500, 500))
    for name, data in files.items():
        p = tree / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        os.utime(p, (1_600_000_000, 1_600_000_000))
    if path.exists():
        path.unlink()
    subprocess.run(["mkfs.ext4", "-q", "-F", "-b", "4096", "-O", "^has_journal", "-U", "6d2f4f6a-1111-2222-3333-444455556666",
                    "-E", "hash_seed=6d2f4f6a-1111-2222-3333-444455556666,root_owner=0:0", "-d", str(tree),
                    str(path), f"{SIZE // 1024}k"], check=True, env={**os.environ, "E2FSPROGS_FAKE_TIME": "1600000000"})
    return path


def chunks(data):
    return [hashlib.sha256(data[i:i + CHUNK]).digest() for i in range(0, len(data), CHUNK)]


def missing_chunks(new, *have):
    """The ideal: chunks of new found in none of have (and not all-zero)."""
    known = set()
    for h in have:
        known.update(chunks(h))
    zero = hashlib.sha256(bytes(CHUNK)).digest()
    return sum(1 for c in chunks(new) if c not in known and c != zero)


def repeats(data):
    """Non-zero chunks of data whose content already came earlier in it."""
    seen, n = set(), 0
    zero = hashlib.sha256(bytes(CHUNK)).digest()
    for c in chunks(data):
        n += c in seen and c != zero
        seen.add(c)
    return n


def stats(stdout):
    m = re.search(r"adaptive update of (\S+): (\d+) chunks: (\d+) zero, (\d+) in target slot, (\d+) from active slot, "
                  r"(\d+) from bundle \((\d+) bytes\), (\d+) written", stdout)
    assert m, f"no adaptive statistics in:\n{stdout}"
    keys = ("chunks", "zero", "target", "active", "bundle", "bundle_bytes", "written")
    return dict(zip(keys, map(int, m.groups()[1:])))


@pytest.fixture
def images(tmp_path):
    return {v: ext4_image(tmp_path / f"v{v}.ext4", v).read_bytes() for v in (0, 1, 2)}


@pytest.fixture
def device(tmp_path, pki):
    s = System(tmp_path / "sys", pki)
    s.write_conf(slots={"rootfs.0": {"device": s.slot_file("rootfs.0", SIZE), "bootname": "A"},
                        "rootfs.1": {"device": s.slot_file("rootfs.1", SIZE), "bootname": "B"}})
    return s


def adaptive_bundle(bundle, data, version):
    return bundle({"rootfs": ("rootfs.ext4", data)}, version=version, image_keys=ADAPTIVE)


def test_bundle_carries_the_index(tmp_path, pki, bundle, images):
    b = adaptive_bundle(bundle, images[1], "1")
    out = tmp_path / "out"
    run("extract", f"--keyring={pki / 'keyring.pem'}", b, out)
    index = (out / "rootfs.ext4.block-hash-index").read_bytes()
    assert index == b"".join(chunks(images[1]))
    info = run("info", f"--keyring={pki / 'keyring.pem'}", "--output-format=json", b).stdout
    assert '"adaptive":["block-hash-index"]' in info.replace(" ", "")


def test_image_size_must_be_chunk_aligned(tmp_path, pki):
    indir = make_input(tmp_path / "in", "verity", images={"rootfs": ("rootfs.img", 3 * CHUNK + 1)},
                       extra_manifest="")
    text = (indir / "manifest.raucm").read_text().replace("filename=rootfs.img", "filename=rootfs.img\nadaptive=block-hash-index;")
    (indir / "manifest.raucm").write_text(text)
    fails("bundle", *signer_args(pki), indir, tmp_path / "b.raucb", match="is not a multiple of 4096")
    assert not (tmp_path / "b.raucb").exists()


def test_v1_to_v2(device, bundle, images):
    device.device("rootfs.0").write_bytes(images[1])  # the device runs v1 from A
    r = device.install(adaptive_bundle(bundle, images[2], "2"))
    st = stats(r.stdout)
    assert device.device("rootfs.1").read_bytes() == images[2]
    ideal = missing_chunks(images[2], images[1], bytes(SIZE))
    assert st["chunks"] == SIZE // CHUNK
    assert st["bundle"] <= ideal * 1.15 + 1, (st, ideal)
    assert st["active"] > st["bundle"]  # most chunks came from v1 in slot A
    assert device.primary() == "B"
    assert device.slot_status("rootfs.1")["sha256"] == hashlib.sha256(images[2]).hexdigest()


def test_v0_to_v2_two_versions_behind(device, bundle, images):
    device.device("rootfs.0").write_bytes(images[0])
    r = device.install(adaptive_bundle(bundle, images[2], "2"))
    st = stats(r.stdout)
    assert device.device("rootfs.1").read_bytes() == images[2]
    ideal = missing_chunks(images[2], images[0], bytes(SIZE))
    assert st["bundle"] <= ideal * 1.15 + 1, (st, ideal)
    # two versions behind needs more than one version behind
    assert ideal > missing_chunks(images[2], images[1], bytes(SIZE))


def test_nothing_reusable_means_full_download(device, bundle, images):
    rnd = random.Random(5)
    device.device("rootfs.0").write_bytes(rnd.randbytes(SIZE))
    device.device("rootfs.1").write_bytes(rnd.randbytes(SIZE))
    r = device.install(adaptive_bundle(bundle, images[2], "2"))
    st = stats(r.stdout)
    assert device.device("rootfs.1").read_bytes() == images[2]
    # only chunks that repeat within the image come from the target, where
    # their first copy was written; each distinct chunk is fetched once
    assert st["active"] == 0 and st["target"] == repeats(images[2])
    assert st["bundle"] == missing_chunks(images[2]) - repeats(images[2])
    assert st["bundle"] + st["zero"] + st["target"] == st["chunks"]


def test_target_already_holding_most_chunks(device, bundle, images):
    """A retry into a target that already got most of v2 writes little."""
    device.device("rootfs.0").write_bytes(images[0])
    device.device("rootfs.1").write_bytes(images[2][:SIZE // 2] + bytes(SIZE // 2))
    r = device.install(adaptive_bundle(bundle, images[2], "2"))
    st = stats(r.stdout)
    assert device.device("rootfs.1").read_bytes() == images[2]
    half = SIZE // 2 // CHUNK
    assert st["target"] + st["zero"] >= half  # the first half is taken from the target itself
    assert st["written"] <= half  # only (part of) the second half is written


def test_changed_local_chunk_is_detected(device, bundle, images):
    """Slot A's index is cached from installing v1 into it; then A changes
    (slots may be read-write). Stale chunks are refetched, never copied."""
    device.boot("B")
    device.reset_grub(order="B A")
    device.install(adaptive_bundle(bundle, images[1], "1"))  # v1 goes to A, index cached for A
    assert device.device("rootfs.0").read_bytes() == images[1]
    device.boot("A")
    baseline = missing_chunks(images[2], images[1], bytes(SIZE))
    # change 50 chunks of A that v2 shares with v1
    a = bytearray(device.device("rootfs.0").read_bytes())
    v2 = set(chunks(images[2]))
    shared = [i for i, c in enumerate(chunks(images[1])) if c in v2 and any(a[i * CHUNK:(i + 1) * CHUNK])][:50]
    for i in shared:
        a[i * CHUNK:(i + 1) * CHUNK] = random.Random(i).randbytes(CHUNK)
    device.device("rootfs.0").write_bytes(bytes(a))
    r = device.install(adaptive_bundle(bundle, images[2], "2"))
    st = stats(r.stdout)
    assert device.device("rootfs.1").read_bytes() == images[2]
    assert st["bundle"] >= baseline + len(shared) * 0.9, (st, baseline)


def test_killed_halfway_then_repeated(device, bundle, images):
    strace = shutil.which("strace")
    assert strace, "strace is installed by make test"
    device.device("rootfs.0").write_bytes(images[1])
    b = adaptive_bundle(bundle, images[2], "2")
    cmd = [strace, "-f", "-qq", "-o", "/dev/null", "-P", str(device.device("rootfs.1")), "-e", "trace=pwrite64",
           "-e", "inject=pwrite64:signal=SIGKILL:when=40", str(ROTA), f"--conf={device.conf}",
           "install", str(b)]
    p = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **device.env()})
    assert p.returncode in (-9, 137), p.stderr
    assert device.primary() == "A"
    assert device.device("rootfs.1").read_bytes() != images[2]
    r = device.install(b)
    assert device.device("rootfs.1").read_bytes() == images[2]
    assert device.primary() == "B"
    assert stats(r.stdout)["target"] > 0  # what the first run wrote is reused


def test_unknown_method_is_ignored(device, bundle, images, tmp_path):
    device.device("rootfs.0").write_bytes(images[1])
    b = bundle({"rootfs": ("rootfs.ext4", images[2])}, version="2",
               image_keys={"rootfs": "adaptive=adaptive-test-method;"})
    r = device.install(b)
    assert "Ignoring unknown adaptive method 'adaptive-test-method'" in r.stderr
    assert "adaptive update of" not in r.stdout
    assert device.device("rootfs.1").read_bytes() == images[2]


def test_without_data_directory_full_copy(device, bundle, images):
    text = device.conf.read_text()
    device.conf.write_text("\n".join(l for l in text.splitlines() if not l.startswith("data-directory=")))
    device.device("rootfs.0").write_bytes(images[1])
    r = device.install(adaptive_bundle(bundle, images[2], "2"))
    assert "data-directory" in r.stderr
    assert device.device("rootfs.1").read_bytes() == images[2]


def test_rauc_adaptive_bundle_installs_adaptively(tmp_path, pki, device, images):
    indir = tmp_path / "rauc-in"
    indir.mkdir()
    (indir / "rootfs.ext4").write_bytes(images[2])
    (indir / "manifest.raucm").write_text(f"[update]\ncompatible={COMPATIBLE}\nversion=2\n\n[bundle]\nformat=verity\n\n"
                                          "[image.rootfs]\nfilename=rootfs.ext4\nadaptive=block-hash-index\n")
    b = tmp_path / "rauc.raucb"
    subprocess.run(["rauc", "bundle", *signer_args(pki), str(indir), str(b)], check=True, capture_output=True)
    device.device("rootfs.0").write_bytes(images[1])
    r = device.install(b)
    st = stats(r.stdout)
    assert st["active"] > 0
    assert device.device("rootfs.1").read_bytes() == images[2]


def test_rota_adaptive_bundle_in_rauc(tmp_path, pki, bundle, images):
    b = adaptive_bundle(bundle, images[2], "2")
    info = subprocess.run(["rauc", "info", f"--keyring={pki / 'keyring.pem'}", str(b)], capture_output=True, text=True)
    assert info.returncode == 0, info.stderr
    assert "block-hash-index" in info.stdout
    out = tmp_path / "rauc-out"
    subprocess.run(["rauc", "extract", f"--keyring={pki / 'keyring.pem'}", str(b), str(out)], check=True,
                   capture_output=True)
    assert (out / "rootfs.ext4.block-hash-index").read_bytes() == b"".join(chunks(images[2]))


@pytest.fixture
def loop_device(device):
    """Slots on real block devices (loop devices over the slot files)."""
    loops = []

    def attach(path):
        dev = subprocess.run(["losetup", "--find", "--show", str(path)], capture_output=True, text=True,
                             check=True).stdout.strip()
        loops.append(dev)
        return dev

    yield attach
    for dev in loops:
        subprocess.run(["losetup", "-d", dev], check=False)


def test_adaptive_on_block_devices(device, bundle, images, loop_device):
    device.device("rootfs.0").write_bytes(images[1])
    a, b = loop_device(device.device("rootfs.0")), loop_device(device.device("rootfs.1"))
    device.write_conf(slots={"rootfs.0": {"device": a, "bootname": "A"},
                             "rootfs.1": {"device": b, "bootname": "B"}})
    r = device.install(adaptive_bundle(bundle, images[2], "2"))
    st = stats(r.stdout)
    assert st["active"] > st["bundle"]  # chunks came from the block device of slot A
    with open(b, "rb") as f:
        assert f.read(SIZE) == images[2]
    assert device.primary() == "B"


# ---- streamed ----

from test_streaming import site  # noqa: E402,F401 (fixture: nginx and lighttpd on 127.0.0.1)


def streaming_stats(stdout):
    m = re.search(r"Streaming: downloaded .*\((\d+) bytes\) in (\d+) requests .*, ([\d.]+) bytes downloaded per byte needed",
                  stdout)
    assert m, f"no streaming statistics in:\n{stdout}"
    return int(m[1]), int(m[2]), float(m[3])


def test_streamed_v1_to_v2_fetches_only_what_it_needs(device, bundle, images, site):
    device.device("rootfs.0").write_bytes(images[1])
    b = adaptive_bundle(bundle, images[2], "2")
    shutil.copy(b, site.www / "adaptive-v2.raucb")
    r = device.install(site.url("nginx", "/adaptive-v2.raucb"))
    st = stats(r.stdout)
    downloaded, requests, ratio = streaming_stats(r.stdout)
    assert device.device("rootfs.1").read_bytes() == images[2]
    ideal = missing_chunks(images[2], images[1], bytes(SIZE))
    assert st["bundle"] <= ideal * 1.15 + 1, (st, ideal)
    # The chunk runs are announced before they are read: each is fetched
    # exactly (neighbours together), so almost nothing is fetched unread.
    assert ratio <= 1.02, r.stdout
    # Less than the missing chunks uncompressed, plus the block-hash-index
    # (32 bytes per chunk) and the bundle's signature and tables.
    assert downloaded <= ideal * CHUNK + SIZE // CHUNK * 32 + 192 * 1024, (downloaded, ideal)
    assert requests <= st["bundle"] + 10
