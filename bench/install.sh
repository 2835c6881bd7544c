#!/bin/bash
# install.sh — `rota install` of a ~1 GiB verity bundle into a file slot,
# beside the limit measured in the same run (issue 3 item 9), and `rota
# install` vs `rauc install` (Debian's RAUC 1.8, via `rauc service` on a
# private D-Bus session bus) for a plain bundle. Prints a markdown section
# on stdout; progress goes to stderr.
#
#  * image: bench/mkimage.sh (ext4, 85% full of files from /usr);
#  * bundles: `rota bundle` with the default squashfs options (gzip, 128 KiB
#    blocks), format=verity and format=plain; also verity with
#    `--mksquashfs-args='-comp lz4'` and `'-comp zstd'` (each reported);
#  * the limit: the lower of (a) `openssl speed -evp sha256 -bytes 8192
#    -seconds 3` (one core) and (b) the sequential write speed of the slot's
#    file system: `dd if=/dev/zero of=SLOT bs=4M count=N conv=notrunc,fsync`
#    over the (already allocated) slot file, best of 2;
#  * rota install: into file-backed raw A/B slots (grub backend on a
#    grubenv file), best of BENCH_RUNS (default 3) after the bundle is read
#    once into the page cache. The install includes rota's read-back of the
#    written slot from the device (O_DIRECT, or the page cache after
#    sync_file_range + posix_fadvise DONTNEED; sha256 compared with the
#    manifest) and its fsync; throughput = image bytes / wall seconds.
#    Besides the limit, the script also measures writing and reading the
#    slot at the same time (dd oflag=direct ‖ dd iflag=direct): what the
#    device allows an install that reads everything back.
#
#  * the same verity installs again into a RAM-backed file slot (tmpfs,
#    /dev/shm), with its own limit: there the device is no bottleneck and
#    the figure shows the pipeline itself (decode, verify, write, read
#    back, hash on two cores). BENCH_RAM_SLOT=0 leaves it out; it needs
#    twice the image size free in /dev/shm.
#
# Needs root for the RAUC part (loop-mounting the plain bundle);
# BENCH_SKIP_RAUC=1 leaves it out.
# Environment: ROTA_BUILD_DIR (default build-release), ROTA (binary),
# BENCH_DIR (default /tmp/rota-install-bench; image and bundles are reused
# when newer than this script's inputs), BENCH_SIZE_MIB (default 1024),
# BENCH_RUNS (default 3).
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$src/bench/lib.sh"
build=${ROTA_BUILD_DIR:-$src/build-release}
rota=${ROTA:-$build/rota}
work=${BENCH_DIR:-/tmp/rota-install-bench}
size_mib=${BENCH_SIZE_MIB:-1024}
runs=${BENCH_RUNS:-3}
dbus_pid="" rauc_pid="" ram_sys=""

log() { echo "bench: $*" >&2; }
cleanup() {
	[ -n "$rauc_pid" ] && kill "$rauc_pid" 2>/dev/null || true
	[ -n "$dbus_pid" ] && kill "$dbus_pid" 2>/dev/null || true
	[ -n "$ram_sys" ] && rm -rf "$ram_sys" || true
}
trap cleanup EXIT

[ -x "$rota" ] || { echo "bench: $rota not found (build first)" >&2; exit 1; }
now() { echo "$EPOCHREALTIME"; }
calc() { echo "$*" | bc -l; }
fmt() { printf "%.${2:-2}f" "$1"; }

mkdir -p "$work"
pki=$work/pki
[ -f "$pki/keyring.pem" ] || bash "$src/tests/pki.sh" "$pki" >/dev/null
signer=(--cert="$pki/signer.cert.pem" --key="$pki/signer.key.pem" --intermediate="$pki/intermediate.pem")

# ---- image and bundles ----
img=$work/rootfs-$size_mib.ext4
if [ ! -f "$img" ]; then
	log "making a $size_mib MiB ext4 image"
	bash "$src/bench/mkimage.sh" "$img" "$size_mib"
fi
img_size=$(stat -c %s "$img")
make_bundle() { # FORMAT OUT [MKSQUASHFS-ARGS]
	local fmt=$1 out=$2 in=$work/in-$1
	local args=(${3:+--mksquashfs-args="$3"})
	if [ -f "$out" ] && [ "$out" -nt "$img" ]; then return; fi
	log "bundling ($fmt ${3:-})"
	rm -rf "$in" "$out"
	mkdir -p "$in"
	ln "$img" "$in/rootfs.ext4" 2>/dev/null || cp "$img" "$in/rootfs.ext4"
	cat >"$in/manifest.raucm" <<EOF
[update]
compatible=rota-bench
version=1.0

[bundle]
format=$fmt

[image.rootfs]
filename=rootfs.ext4
EOF
	"$rota" bundle "${signer[@]}" "${args[@]}" "$in" "$out" >/dev/null
}
verity=$work/verity-$size_mib.raucb
plain=$work/plain-$size_mib.raucb
make_bundle verity "$verity"
make_bundle plain "$plain"
# The same with lz4: the install pipeline without gzip inflation's cost.
lz4=$work/verity-lz4-$size_mib.raucb
make_bundle verity "$lz4" "-comp lz4"
# And zstd (libsquashfs's default level): the smallest bundle of the three;
# decoding it costs about as much as gzip here.
zstd=$work/verity-zstd-$size_mib.raucb
make_bundle verity "$zstd" "-comp zstd"

# ---- a file-backed A/B system ----
sys=$work/sys
rm -rf "$sys"
make_ab_system "$sys" "$pki/keyring.pem" "$img_size"
target=$sys/rootfs.1.img

# ---- the limit ----
log "sha256 speed (openssl, one core, 3 s)"
# "sha256  ... <8192-byte column>k": thousands of bytes per second.
sha_kbs=$(openssl speed -evp sha256 -bytes 8192 -seconds 3 2>/dev/null | awk '/^sha256/ {v = $NF} END {sub(/k$/, "", v); print v}')
sha_mibs=$(calc "$sha_kbs * 1000 / 1048576")
blocks4m=$((img_size / (4 << 20)))
dd if=/dev/zero of="$target" bs=4M count="$blocks4m" conv=notrunc,fsync status=none # allocate
# write_speed SLOT: best of 2 sequential writes over the slot, MiB/s.
write_speed() {
	local best=0 t0 t1 w
	for _ in 1 2; do
		log "sequential write speed of $1 (dd, ${blocks4m} x 4 MiB, fsync)"
		t0=$(now)
		dd if=/dev/zero of="$1" bs=4M count="$blocks4m" conv=notrunc,fsync status=none
		t1=$(now)
		w=$(calc "$blocks4m * 4 / ($t1 - $t0)")
		[ "$(calc "$w > $best")" = 1 ] && best=$w
	done
	echo "$best"
}
write_mibs=$(write_speed "$target")
# Also the cold sequential read speed (what rota's read-back pays).
t0=$(now)
dd if="$target" of=/dev/null bs=4M count="$blocks4m" iflag=direct status=none
t1=$(now)
read_mibs=$(calc "$blocks4m * 4 / ($t1 - $t0)")
# And writing while reading back (what an install with read-back asks of the
# device): dd oflag=direct over the slot, dd iflag=direct over it at the same
# time, best of 2; image MiB/s = slot bytes / time until both are done.
both_mibs=0
for _ in 1 2; do
	t0=$(now)
	dd if=/dev/zero of="$target" bs=4M count="$blocks4m" oflag=direct conv=notrunc status=none &
	dd if="$target" of=/dev/null bs=4M count="$blocks4m" iflag=direct status=none
	wait
	t1=$(now)
	w=$(calc "$blocks4m * 4 / ($t1 - $t0)")
	[ "$(calc "$w > $both_mibs")" = 1 ] && both_mibs=$w
done
if [ "$(calc "$sha_mibs < $write_mibs")" = 1 ]; then
	limit=$sha_mibs limit_what="SHA-256"
else
	limit=$write_mibs limit_what="sequential write"
fi

# ---- rota install ----
# install_rota BUNDLE: best wall time of $runs installs into slot B.
install_rota() {
	local bundle=$1 best="" t0 t1 dt all=""
	cat "$bundle" >/dev/null
	for _ in $(seq "$runs"); do
		reset_grub
		t0=$(now)
		ROTA_CMDLINE_FILE=$sys/cmdline "$rota" --conf="$sys/system.conf" install "$bundle" >"$sys/rota.out" 2>&1 ||
			{ cat "$sys/rota.out" >&2; exit 1; }
		t1=$(now)
		dt=$(calc "$t1 - $t0")
		all="$all $(fmt "$dt")"
		if [ -z "$best" ] || [ "$(calc "$dt < $best")" = 1 ]; then best=$dt; fi
	done
	cmp -n "$img_size" "$img" "$target" || { echo "bench: slot B differs from the image" >&2; exit 1; }
	echo "$best$all"
}
log "rota install (verity, $runs runs)"
read -r t_verity all_verity <<<"$(install_rota "$verity")"
load_verity=$(cut -d' ' -f1-3 /proc/loadavg)
log "rota install (verity, lz4, $runs runs)"
read -r t_lz4 all_lz4 <<<"$(install_rota "$lz4")"
log "rota install (verity, zstd, $runs runs)"
read -r t_zstd all_zstd <<<"$(install_rota "$zstd")"
log "rota install (plain, $runs runs)"
read -r t_rota_plain all_rota_plain <<<"$(install_rota "$plain")"
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
thr=$(calc "$img_size / 1048576 / $t_verity")
pct=$(calc "100 * $thr / $limit")

# ---- the same into a RAM-backed slot ----
ram_section=""
shm_free=$(df --output=avail -B1 /dev/shm 2>/dev/null | tail -1 || echo 0)
if [ "${BENCH_RAM_SLOT:-1}" != 0 ] && [ "$shm_free" -gt $((2 * img_size + (64 << 20))) ]; then
	ram_sys=$(mktemp -d /dev/shm/rota-install-bench.XXXXXX)
	disk_sys=$sys disk_target=$target
	sys=$ram_sys
	make_ab_system "$sys" "$pki/keyring.pem" "$img_size"
	target=$sys/rootfs.1.img
	ram_write_mibs=$(write_speed "$target")
	ram_limit=$(calc "if ($sha_mibs < $ram_write_mibs) $sha_mibs else $ram_write_mibs")
	ram_rows=""
	for b in "lz4:$lz4" "gzip:$verity" "zstd:$zstd"; do
		log "rota install into a RAM-backed slot (verity, ${b%%:*}, $runs runs)"
		read -r t all <<<"$(install_rota "${b#*:}")"
		mibs=$(calc "$img_size / 1048576 / $t")
		ram_rows="$ram_rows
| verity, ${b%%:*} | rota install | $(fmt "$t") s ($all ) | $(fmt "$mibs" 0) MiB/s | $(fmt "$(calc "100 * $mibs / $ram_limit")" 0)% |"
	done
	rm -rf "$ram_sys"
	ram_sys="" sys=$disk_sys target=$disk_target
	ram_section="
The same bundles into a RAM-backed file slot (both slot files on the tmpfs
/dev/shm; bundles on disk, in the page cache), limit measured there too:

| | MiB/s |
|---|---|
| \`openssl speed -evp sha256 -bytes 8192 -seconds 3\` (one core, as above) | $(fmt "$sha_mibs" 0) |
| \`dd if=/dev/zero of=SLOT bs=4M count=$blocks4m conv=notrunc,fsync\` on tmpfs (best of 2) | $(fmt "$ram_write_mibs" 0) |
| limit = the lower | $(fmt "$ram_limit" 0) |

| bundle | command | best of $runs (all runs) | image MiB/s | % of limit (target ≥ 80%) |
|---|---|---|---|---|$ram_rows
"
fi

# ---- rauc install (plain) ----
rauc_row="" rauc_note=""
if [ "${BENCH_SKIP_RAUC:-0}" != 1 ] && command -v rauc >/dev/null; then
	log "rauc install (plain, $runs runs)"
	addr=$(dbus-daemon --session --fork --print-address=1 --print-pid=2 2>"$sys/dbus.pid")
	dbus_pid=$(cat "$sys/dbus.pid")
	export DBUS_SESSION_BUS_ADDRESS=$addr DBUS_STARTER_BUS_TYPE=session
	rauc --conf="$sys/system.conf" service --override-boot-slot=A >"$sys/rauc-service.log" 2>&1 &
	rauc_pid=$!
	# (rauc aborts with SIGTRAP while the service is not up yet: keep the shell quiet)
	for _ in $(seq 50); do (rauc status >/dev/null 2>&1) 2>/dev/null && break; sleep 0.1; done
	best="" all=""
	rauc_ok=1
	cat "$plain" >/dev/null
	for _ in $(seq "$runs"); do
		reset_grub
		t0=$(now)
		if ! rauc install "$plain" >"$sys/rauc.out" 2>&1; then
			rauc_ok=0
			break
		fi
		t1=$(now)
		dt=$(calc "$t1 - $t0")
		all="$all $(fmt "$dt")"
		if [ -z "$best" ] || [ "$(calc "$dt < $best")" = 1 ]; then best=$dt; fi
	done
	if [ "$rauc_ok" = 1 ] && cmp -s -n "$img_size" "$img" "$target"; then
		t_rauc=$best
		rauc_row="| plain | rauc install (via rauc service) | $(fmt "$t_rauc") s ($all ) | $(fmt "$(calc "$img_size / 1048576 / $t_rauc")" 0) MiB/s | |"
		rauc_note="rauc / rota (plain): $(fmt "$(calc "$t_rauc / $t_rota_plain")")x."
	else
		rauc_note="RAUC could not install here: $(grep -iE 'error|fail' "$sys/rauc.out" "$sys/rauc-service.log" | tail -3 | tr '\n' ' ')"
	fi
	kill "$rauc_pid" 2>/dev/null || true
	wait "$rauc_pid" 2>/dev/null || true
	kill "$dbus_pid" 2>/dev/null || true
	rauc_pid="" dbus_pid=""
fi

cat <<EOF
### Install throughput (bench/install.sh, $(date -u +%Y-%m-%d))

Machine: $(nproc) cores, $(uname -r), load average after the first bundle's runs: ${load_verity}, after all rota runs: ${load_end}.
Image: ${size_mib} MiB ext4 (bench/mkimage.sh), $img_size bytes; verity bundle
$(stat -c %s "$verity") bytes, plain bundle $(stat -c %s "$plain") bytes (default gzip, 128 KiB blocks).

The limit, measured in the same run:

| | MiB/s |
|---|---|
| \`openssl speed -evp sha256 -bytes 8192 -seconds 3\` (one core) | $(fmt "$sha_mibs" 0) |
| \`dd if=/dev/zero of=SLOT bs=4M count=$blocks4m conv=notrunc,fsync\` (best of 2) | $(fmt "$write_mibs" 0) |
| limit = the lower ($limit_what) | $(fmt "$limit" 0) |
| (for reference: \`dd if=SLOT of=/dev/null bs=4M iflag=direct\`, cold read) | $(fmt "$read_mibs" 0) |
| (for reference: write and read back at once: \`dd oflag=direct\` ‖ \`dd iflag=direct\` over the slot, best of 2) | $(fmt "$both_mibs" 0) |

| bundle | command | best of $runs (all runs) | image MiB/s | % of limit (target ≥ 80%) |
|---|---|---|---|---|
| verity (gzip) | rota install | $(fmt "$t_verity") s ($all_verity ) | $(fmt "$thr" 0) MiB/s | $(fmt "$pct" 0)% |
| verity, \`-comp lz4\` ($(stat -c %s "$lz4") bytes) | rota install | $(fmt "$t_lz4") s ($all_lz4 ) | $(fmt "$(calc "$img_size / 1048576 / $t_lz4")" 0) MiB/s | $(fmt "$(calc "100 * $img_size / 1048576 / $t_lz4 / $limit")" 0)% |
| verity, \`-comp zstd\` ($(stat -c %s "$zstd") bytes) | rota install | $(fmt "$t_zstd") s ($all_zstd ) | $(fmt "$(calc "$img_size / 1048576 / $t_zstd")" 0) MiB/s | $(fmt "$(calc "100 * $img_size / 1048576 / $t_zstd / $limit")" 0)% |
| plain | rota install | $(fmt "$t_rota_plain") s ($all_rota_plain ) | $(fmt "$(calc "$img_size / 1048576 / $t_rota_plain")" 0) MiB/s | |
$rauc_row

$rauc_note
$ram_section
EOF
