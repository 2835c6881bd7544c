#!/usr/bin/env python3
"""adaptive_images.py — helpers for bench/adaptive.sh.

  update V1_STAGING V2_STAGING SEED PERCENT
      Copies the staging tree of v1 (bench/mkimage.sh KEEP_STAGING=1) to
      V2_STAGING and changes it the way a package update does: PERCENT % of
      the regular files (picked with a fixed seed) get new contents of a
      similar size (0.9x to 1.15x of the old size), taken from files on this
      machine that are not in the image (so the new bytes are realistic
      binaries, libraries, text; never the old bytes shifted); a few files
      (PERCENT/10 %) are added and as many deleted. Prints what it did.

  ideal V1 V2
      The ideal 4 KiB block-hash-index figure: the distinct 4 KiB chunks of
      V2 that are not all-zero and do not occur anywhere in V1; prints
      "chunks=N distinct_missing=M missing_positions=P ideal_bytes=M*4096
      ideal_zlib_bytes=Z" (Z: those chunks compressed one by one, zlib 9).
"""
import hashlib
import zlib
import os
import random
import shutil
import stat
import sys

EPOCH = 1700000000
ROOTS = ["/usr/bin", "/usr/sbin", "/usr/lib", "/usr/share", "/usr/include", "/usr/libexec", "/usr/local"]


def files_under(top):
    out = []
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames.sort()
        for name in sorted(filenames):
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            if stat.S_ISREG(st.st_mode):
                out.append((p, st.st_size))
    return out


def donors(exclude, rng):
    """Regular readable files of this machine not in the image, shuffled."""
    pool = []
    for root in ROOTS:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in sorted(filenames):
                p = os.path.join(dirpath, name)
                try:
                    st = os.lstat(p)
                except OSError:
                    continue
                if stat.S_ISREG(st.st_mode) and st.st_size > 0 and p not in exclude and os.access(p, os.R_OK):
                    pool.append(p)
    rng.shuffle(pool)
    return pool


class DonorStream:
    """Hands out bytes of donor files, each donor used once."""

    def __init__(self, pool):
        self.pool = pool
        self.i = 0

    def take(self, n):
        parts, have = [], 0
        while have < n:
            if self.i >= len(self.pool):
                self.i = 0  # wrapped: only if the pool is exhausted
            p = self.pool[self.i]
            self.i += 1
            try:
                with open(p, "rb") as f:
                    data = f.read(n - have)
            except OSError:
                continue
            parts.append(data)
            have += len(data)
        return b"".join(parts)


def update(v1, v2, seed, percent):
    rng = random.Random(seed)
    if os.path.exists(v2):
        shutil.rmtree(v2)
    shutil.copytree(v1, v2, symlinks=True)
    rel = sorted(os.path.relpath(p, v2) for p, _ in files_under(v2))
    sizes = {r: os.lstat(os.path.join(v2, r)).st_size for r in rel}
    in_image = {"/" + r for r in rel}
    stream = DonorStream(donors(in_image, rng))

    n_change = round(len(rel) * percent / 100)
    n_addel = max(1, round(len(rel) * percent / 1000))
    picked = rng.sample(rel, n_change + n_addel)
    changed, deleted = picked[:n_change], picked[n_change:]
    old_bytes = new_bytes = 0
    for r in changed:
        p = os.path.join(v2, r)
        n = int(sizes[r] * rng.uniform(0.9, 1.15))
        data = stream.take(n)
        mode = os.lstat(p).st_mode
        os.unlink(p)  # a package manager writes a new file and renames it
        with open(p, "wb") as f:
            f.write(data)
        os.chmod(p, stat.S_IMODE(mode))
        os.utime(p, (EPOCH + 86400, EPOCH + 86400))
        old_bytes += sizes[r]
        new_bytes += n
    del_bytes = 0
    for r in deleted:
        del_bytes += sizes[r]
        os.unlink(os.path.join(v2, r))
    add_bytes = 0
    for i in range(n_addel):
        # Next to an existing file, with the size of a random existing file.
        near = os.path.dirname(rng.choice(rel))
        n = sizes[rng.choice(rel)]
        p = os.path.join(v2, near, f"rota-update-{i}.new")
        with open(p, "wb") as f:
            f.write(stream.take(n))
        os.chmod(p, 0o644)
        os.utime(p, (EPOCH + 86400, EPOCH + 86400))
        add_bytes += n
    # Fixed directory times, as bench/mkimage.sh sets them.
    for dirpath, dirnames, filenames in os.walk(v2, topdown=False):
        os.utime(dirpath, (EPOCH, EPOCH))
    total = sum(sizes.values())
    print(f"files={len(rel)} changed={n_change} ({old_bytes} -> {new_bytes} bytes) deleted={len(deleted)} "
          f"({del_bytes} bytes) added={n_addel} ({add_bytes} bytes) data_v1={total} "
          f"changed_fraction={old_bytes / total:.4f}")


def chunk_hashes(path, keep=False):
    out, data = [], {}
    with open(path, "rb") as f:
        while True:
            b = f.read(4096)
            if not b:
                break
            h = hashlib.sha256(b).digest()
            out.append(h)
            if keep:
                data.setdefault(h, b)
    return (out, data) if keep else out


def ideal(v1, v2):
    zero = hashlib.sha256(bytes(4096)).digest()
    have = set(chunk_hashes(v1))
    want, data = chunk_hashes(v2, keep=True)
    missing = [h for h in want if h not in have and h != zero]
    distinct = set(missing)
    # What those chunks would cost compressed one by one (a 4 KiB block size).
    zbytes = sum(min(4096, len(zlib.compress(data[h], 9))) for h in distinct)
    print(f"chunks={len(want)} distinct_missing={len(distinct)} missing_positions={len(missing)} "
          f"ideal_bytes={len(distinct) * 4096} ideal_zlib_bytes={zbytes}")


if __name__ == "__main__":
    if sys.argv[1] == "update":
        update(sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5]))
    elif sys.argv[1] == "ideal":
        ideal(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
