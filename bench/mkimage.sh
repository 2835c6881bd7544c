#!/bin/bash
# mkimage.sh OUT SIZE_MIB — builds a realistic ext4 root-filesystem image of
# SIZE_MIB MiB from files already on this machine, without mounting and
# without root (mkfs.ext4 -d).
#
# Contents: regular files and symlinks from /usr/bin, /usr/sbin, /usr/lib and
# /usr/share, picked in a fixed pseudo-random order (the SHA-256 of
# "$SEED:path", SEED defaults to "rota-bench") so that the image mixes
# binaries, shared libraries, Python modules, locale and documentation files
# the way a real root filesystem does. Files are added until their data
# (rounded up to 4 KiB blocks) reaches FILL percent (default 85) of the
# image, counting the space ext4 itself needs. Given the same machine, the
# same arguments make the same image: the file list is sorted by that hash,
# timestamps are fixed, and the UUID and directory hash seed are fixed.
#
# Environment: SEED, FILL (percent, default 85), KEEP_STAGING=1 to keep the
# staging directory (OUT.d).
set -euo pipefail

if [ $# -ne 2 ]; then
	echo "usage: $0 OUT SIZE_MIB" >&2
	exit 2
fi
out=$1
size_mib=$2
seed=${SEED:-rota-bench}
fill=${FILL:-85}
staging="$out.d"
epoch=1700000000

rm -rf "$staging" "$out"
mkdir -p "$staging"

# Space ext4 takes for itself with the options below (-i 16384, journal,
# group descriptors, bitmaps) is about 5% at these sizes; count it so that
# "used" as df would report it lands at FILL percent.
python3 - "$staging" "$size_mib" "$fill" "$seed" "$epoch" <<'EOF'
import hashlib, os, shutil, stat, sys

staging, size_mib, fill, seed, epoch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
roots = ["/usr/bin", "/usr/sbin", "/usr/lib", "/usr/share"]
image = size_mib * 1024 * 1024
# Blocks ext4 uses for its own metadata: inode tables (256 bytes per 16 KiB),
# the journal (mke2fs picks 4 MiB below 128 MiB, 16 MiB below 1 GiB, 32 MiB
# below 2 GiB ...), bitmaps and descriptors (~0.1%).
journal = 4 << 20 if size_mib < 128 else 16 << 20 if size_mib < 1024 else 32 << 20 if size_mib < 2048 else 64 << 20
overhead = image // 64 + journal + image // 1000
budget = image * fill // 100 - overhead

entries = []
for root in roots:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode) and os.access(path, os.R_OK) or stat.S_ISLNK(st.st_mode):
                key = hashlib.sha256(f"{seed}:{path}".encode()).digest()
                entries.append((key, path, st))
entries.sort()

used = 0
files = links = 0
dirs = set()
for key, path, st in entries:
    blocks = 0 if stat.S_ISLNK(st.st_mode) else (st.st_size + 4095) // 4096 * 4096
    parent = os.path.dirname(path)
    new_dirs = []
    d = parent
    while d != "/" and d not in dirs:
        new_dirs.append(d)
        d = os.path.dirname(d)
    cost = blocks + 4096 * len(new_dirs)
    if used + cost > budget:
        continue  # skip what no longer fits; smaller files may
    dst = staging + path
    os.makedirs(staging + parent, exist_ok=True)
    dirs.update(new_dirs)
    if stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(path), dst)
        links += 1
    else:
        shutil.copyfile(path, dst)
        os.chmod(dst, stat.S_IMODE(st.st_mode) & 0o755 | 0o644)
        files += 1
    used += cost
    if budget - used < 4096:
        break

# Fixed timestamps, deepest first so that parents keep theirs.
for dirpath, dirnames, filenames in os.walk(staging, topdown=False):
    for name in filenames:
        os.utime(os.path.join(dirpath, name), (epoch, epoch), follow_symlinks=False)
    os.utime(dirpath, (epoch, epoch))
print(f"mkimage: {files} files, {links} symlinks, {len(dirs)} directories, "
      f"{used / 1048576:.1f} MiB of data for a {size_mib} MiB image", file=sys.stderr)
EOF

E2FSPROGS_FAKE_TIME=$epoch mkfs.ext4 -q -F -b 4096 -i 16384 -m 0 \
	-U 6d8f4e2a-0b1c-4d3e-9f5a-7b6c5d4e3f21 \
	-E hash_seed=1e2d3c4b-5a69-4788-97a6-b5c4d3e2f101,root_owner=0:0 \
	-L rootfs -d "$staging" "$out" "${size_mib}M" >/dev/null

# Report how full the file system is.
dumpe2fs -h "$out" 2>/dev/null | awk -F: -v out="$out" '
	/^Block count/ {total = $2} /^Free blocks/ {free = $2}
	END {printf "mkimage: %s: %d of %d blocks used (%.1f%%)\n", out, total - free, total, 100 * (total - free) / total}' >&2

[ "${KEEP_STAGING:-0}" = 1 ] || rm -rf "$staging"
