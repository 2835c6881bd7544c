#!/bin/bash
# adaptive.sh — streamed adaptive install (issue 5 item 6): bytes over the
# wire for v1 -> v2 of a ~256 MiB ext4 root file system with about 5% of its
# files changed, beside (a) the ideal 4 KiB block-hash-index figure, (b)
# casync (default chunking) seeded with v1, (c) zsync seeded with v1, (d) a
# full download; and the same install from a normal (gzip, non-adaptive)
# bundle, to show the bundle-size / bytes-over-the-wire trade-off of rota's
# adaptive layout. Prints a markdown section on stdout, progress on stderr.
#
#  * v1: bench/mkimage.sh (files from /usr, fixed order, SEED=rota-bench);
#  * v2: v1's file tree changed by bench/adaptive_images.py (fixed seed):
#    BENCH_CHANGE_PERCENT (default 5) % of the files get new contents of a
#    similar size from files of this machine not in the image, PERCENT/10 %
#    are added and as many deleted; then mkfs.ext4 -d with mkimage.sh's
#    options (the image is rebuilt, as image builders do, so later files
#    move by whole blocks and metadata changes);
#  * device: file-backed raw A/B slots, A (booted) holds v1, B is empty;
#  * every byte count comes from nginx's access log ($bytes_sent: headers
#    and bodies of every response), plus rota's own "Streaming:" line.
# Needs root (nginx, rota's fetch helper drops to nobody).
# Environment: ROTA_BUILD_DIR (default build-release), ROTA, BENCH_DIR
# (default /tmp/rota-adaptive-bench; images are reused), BENCH_SIZE_MIB
# (default 256), BENCH_CHANGE_PERCENT (default 5).
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$src/bench/lib.sh"
build=${ROTA_BUILD_DIR:-$src/build-release}
rota=${ROTA:-$build/rota}
work=${BENCH_DIR:-/tmp/rota-adaptive-bench}
size_mib=${BENCH_SIZE_MIB:-256}
percent=${BENCH_CHANGE_PERCENT:-5}
nginx_pid=""

log() { echo "bench: $*" >&2; }
cleanup() { [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null || true; }
trap cleanup EXIT
[ -x "$rota" ] || { echo "bench: $rota not found (build first)" >&2; exit 1; }
calc() { echo "$*" | bc -l; }
fmt() { printf "%.${2:-2}f" "$1"; }
mib() { fmt "$(calc "$1 / 1048576")" "${2:-2}"; }

mkdir -p "$work"/www "$work"/sys
pki=$work/pki
[ -f "$pki/keyring.pem" ] || bash "$src/tests/pki.sh" "$pki" >/dev/null
signer=(--cert="$pki/signer.cert.pem" --key="$pki/signer.key.pem" --intermediate="$pki/intermediate.pem")

# ---- v1 and v2 ----
v1=$work/v1.img v2=$work/v2.img
if [ ! -f "$v2" ] || [ ! -f "$work/update.txt" ]; then
	log "making v1 ($size_mib MiB)"
	KEEP_STAGING=1 bash "$src/bench/mkimage.sh" "$v1" "$size_mib"
	log "making v2 ($percent% of the files changed)"
	python3 "$src/bench/adaptive_images.py" update "$v1.d" "$v2.d" rota-bench-v2 "$percent" >"$work/update.txt"
	# The same mkfs.ext4 options as bench/mkimage.sh.
	E2FSPROGS_FAKE_TIME=1700000000 mkfs.ext4 -q -F -b 4096 -i 16384 -m 0 \
		-U 6d8f4e2a-0b1c-4d3e-9f5a-7b6c5d4e3f21 \
		-E hash_seed=1e2d3c4b-5a69-4788-97a6-b5c4d3e2f101,root_owner=0:0 \
		-L rootfs -d "$v2.d" "$v2" "${size_mib}M" >/dev/null
	rm -rf "$v1.d" "$v2.d"
fi
img_size=$(stat -c %s "$v2")
update_desc=$(cat "$work/update.txt")
log "v2: $update_desc"

# ---- (a) the ideal 4 KiB figure ----
log "ideal 4 KiB index figure"
ideal_line=$(python3 "$src/bench/adaptive_images.py" ideal "$v1" "$v2")
ideal=$(sed -E 's/.*ideal_bytes=([0-9]+).*/\1/' <<<"$ideal_line")
distinct_missing=$(sed -E 's/.*distinct_missing=([0-9]+).*/\1/' <<<"$ideal_line")
missing_positions=$(sed -E 's/.*missing_positions=([0-9]+).*/\1/' <<<"$ideal_line")
ideal_z=$(sed -E 's/.*ideal_zlib_bytes=([0-9]+).*/\1/' <<<"$ideal_line")

# ---- bundles of v2 ----
make_bundle() { # NAME ADAPTIVE(0|1)
	local in=$work/in-$1
	rm -rf "$in"
	mkdir -p "$in"
	ln -f "$v2" "$in/rootfs.ext4"
	{
		printf '[update]\ncompatible=rota-bench\nversion=2\n\n[bundle]\nformat=verity\n\n'
		printf '[image.rootfs]\nfilename=rootfs.ext4\n'
		[ "$2" = 1 ] && printf 'adaptive=block-hash-index;\n'
	} >"$in/manifest.raucm"
	rm -f "$work/www/$1.raucb"
	"$rota" bundle "${signer[@]}" "$in" "$work/www/$1.raucb" >/dev/null
	rm -rf "$in"
}
log "bundling v2 (adaptive, and normal gzip)"
make_bundle v2-adaptive 1
make_bundle v2-gzip 0
size_adaptive=$(stat -c %s "$work/www/v2-adaptive.raucb")
size_gzip=$(stat -c %s "$work/www/v2-gzip.raucb")

# ---- casync and zsync data ----
log "casync make (default chunking) and zsyncmake"
rm -rf "$work/www/store" "$work/www/v2.caibx"
casync make --store="$work/www/store" "$work/www/v2.caibx" "$v2" >/dev/null
ln -f "$v2" "$work/www/v2.img"

# ---- nginx on 127.0.0.1 ----
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ng=$work/nginx
mkdir -p "$ng"
: >"$ng/access.log"
cat >"$ng/nginx.conf" <<EOF
user root;
daemon off;
worker_processes 1;
pid $ng/nginx.pid;
error_log $ng/error.log;
events { worker_connections 64; }
http {
    log_format bytes '\$bytes_sent \$status "\$request" "\$http_range"';
    access_log $ng/access.log bytes;
    client_body_temp_path $ng/body; proxy_temp_path $ng/proxy;
    fastcgi_temp_path $ng/fastcgi; uwsgi_temp_path $ng/uwsgi; scgi_temp_path $ng/scgi;
    sendfile on;
    server { listen 127.0.0.1:$port; root $work/www; }
}
EOF
nginx -c "$ng/nginx.conf" -p "$ng" &
nginx_pid=$!
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
base=http://127.0.0.1:$port
zsyncmake -u "$base/v2.img" -o "$work/www/v2.img.zsync" "$v2" >/dev/null 2>&1

# served_since LINE: bytes and requests logged after line LINE of the log.
log_lines() { sleep 0.2; wc -l <"$ng/access.log"; }
served_since() { tail -n +"$(($1 + 1))" "$ng/access.log" | awk '{b += $1; n++} END {printf "%d %d\n", b, n}'; }

# ---- the device ----
sys=$work/sys
reset_device() {
	rm -rf "$sys"
	make_ab_system "$sys" "$pki/keyring.pem" "$img_size"
	cp "$v1" "$sys/rootfs.0.img"
}

# rota_streamed NAME: streamed install of www/NAME.raucb; sets r_wire
# (nginx), r_req, r_line (Streaming:), r_adaptive (adaptive line), r_secs.
rota_streamed() {
	reset_device
	local l0 out t0 t1
	l0=$(log_lines)
	t0=$EPOCHREALTIME
	out=$(ROTA_CMDLINE_FILE=$sys/cmdline "$rota" --conf="$sys/system.conf" install "$base/$1.raucb" 2>&1) ||
		{ echo "$out" >&2; exit 1; }
	t1=$EPOCHREALTIME
	r_secs=$(fmt "$(calc "$t1 - $t0")")
	read -r r_wire r_req <<<"$(served_since "$l0")"
	r_line=$(grep -o 'Streaming: .*' <<<"$out" || true)
	r_adaptive=$(grep -o 'adaptive update of .*' <<<"$out" || true)
	r_rota_bytes=$(sed -E 's/.*\(([0-9]+) bytes\) in .*/\1/' <<<"$r_line")
	cmp -n "$img_size" "$v2" "$sys/rootfs.1.img" || { echo "bench: slot B is not v2" >&2; exit 1; }
}

log "rota: streamed adaptive install"
rota_streamed v2-adaptive
a_wire=$r_wire a_req=$r_req a_line=$r_line a_adaptive=$r_adaptive a_secs=$r_secs a_rota=$r_rota_bytes
log "rota: streamed install of the normal gzip bundle"
rota_streamed v2-gzip
g_wire=$r_wire g_req=$r_req g_line=$r_line g_secs=$r_secs g_rota=$r_rota_bytes

log "casync extract --seed=v1"
rm -f "$work/casync-out.img"
l0=$(log_lines)
t0=$EPOCHREALTIME
casync extract --seed="$v1" --store="$base/store" "$base/v2.caibx" "$work/casync-out.img" >/dev/null 2>"$work/casync.err" ||
	{ cat "$work/casync.err" >&2; exit 1; }
c_secs=$(fmt "$(calc "$EPOCHREALTIME - $t0")")
read -r c_wire c_req <<<"$(served_since "$l0")"
c_index=$(stat -c %s "$work/www/v2.caibx")
cmp "$v2" "$work/casync-out.img" || { echo "bench: casync output differs" >&2; exit 1; }
store_bytes=$(find "$work/www/store" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
store_chunks=$(find "$work/www/store" -type f | wc -l)

log "zsync -i v1"
rm -f "$work/zsync-out.img"
l0=$(log_lines)
t0=$EPOCHREALTIME
(cd "$work" && zsync -q -i "$v1" -o "$work/zsync-out.img" "$base/v2.img.zsync" >/dev/null 2>"$work/zsync.err") ||
	{ cat "$work/zsync.err" >&2; exit 1; }
z_secs=$(fmt "$(calc "$EPOCHREALTIME - $t0")")
read -r z_wire z_req <<<"$(served_since "$l0")"
z_index=$(stat -c %s "$work/www/v2.img.zsync")
z_block=$(awk -F': ' '/^Blocksize/ {print $2; exit}' "$work/www/v2.img.zsync")
cmp "$v2" "$work/zsync-out.img" || { echo "bench: zsync output differs" >&2; exit 1; }
rm -f "$work/zsync-out.img" "$work/casync-out.img" "$work"/zsync-out.img.zs-old

ratio() { fmt "$(calc "$1 / $2")"; }
cat <<EOF
## Adaptive updates: bytes over the wire (bench/adaptive.sh, $(date -u +%Y-%m-%d))

Machine: $(nproc) cores, $(uname -r); rota $(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo '?') (release build),
$(dpkg-query -W -f '${Package} ${Version}, ' casync zsync 2>/dev/null)nginx on 127.0.0.1.

v1: \`bench/mkimage.sh v1.img $size_mib\` ($img_size bytes). v2: v1's tree changed by
\`bench/adaptive_images.py update\` (seed \`rota-bench-v2\`, ${percent}%):
\`$update_desc\`,
then \`mkfs.ext4 -d\` with mkimage.sh's options. Device: raw file slots, A (booted) = v1, B empty.
Bytes are nginx's \`\$bytes_sent\` summed over every request of a run (headers included; the bundle's
manifest, signature and hash index, casync's .caibx and zsync's .zsync control file included).

| method | bytes over the wire | requests | vs ideal | wall s | server side |
|---|---:|---:|---:|---:|---|
| (a) ideal 4 KiB index: $distinct_missing distinct v2 chunks absent from v1 × 4096 | $ideal ($(mib "$ideal") MiB) | – | 1.00x | – | – |
| (a') the same chunks, each compressed alone (zlib level 9) | $ideal_z ($(mib "$ideal_z") MiB) | – | $(ratio "$ideal_z" "$ideal")x | – | – |
| **rota, adaptive bundle, streamed** | $a_wire ($(mib "$a_wire") MiB) | $a_req | $(ratio "$a_wire" "$ideal")x | $a_secs | bundle $size_adaptive bytes ($(mib "$size_adaptive") MiB) |
| rota, normal gzip bundle, streamed | $g_wire ($(mib "$g_wire") MiB) | $g_req | $(ratio "$g_wire" "$ideal")x | $g_secs | bundle $size_gzip bytes ($(mib "$size_gzip") MiB) |
| (b) casync extract --seed=v1.img (default chunking) | $c_wire ($(mib "$c_wire") MiB) | $c_req | $(ratio "$c_wire" "$ideal")x | $c_secs | store $store_bytes bytes in $store_chunks chunks + .caibx $c_index |
| (c) zsync -i v1.img (block size $z_block) | $z_wire ($(mib "$z_wire") MiB) | $z_req | $(ratio "$z_wire" "$ideal")x | $z_secs | image + .zsync $z_index |
| (d) full download: normal gzip bundle | $size_gzip ($(mib "$size_gzip") MiB) | 1 | $(ratio "$size_gzip" "$ideal")x | – | – |
| (d) full download: raw image | $img_size ($(mib "$img_size") MiB) | 1 | $(ratio "$img_size" "$ideal")x | – | – |

rota's own lines (adaptive bundle):

    $a_adaptive
    $a_line

rota's own line (normal gzip bundle): \`$g_line\`

Ideal-figure detail: \`$ideal_line\` (missing_positions counts a chunk each time v2 holds it).

Targets: rota adaptive ≤ 1.15x ideal: **$(ratio "$a_wire" "$ideal")x** ($( [ "$(calc "$a_wire <= 1.15 * $ideal")" = 1 ] && echo met || echo missed));
fewer bytes than casync ($( [ "$(calc "$a_wire < $c_wire")" = 1 ] && echo met || echo missed)) and zsync ($( [ "$(calc "$a_wire < $z_wire")" = 1 ] && echo met || echo missed)).
Layout trade-off: the adaptive bundle is $(ratio "$size_adaptive" "$size_gzip")x the size of the normal gzip bundle
(+$(mib "$((size_adaptive - size_gzip))") MiB stored); over the wire this update took $(ratio "$a_wire" "$g_wire")x of the bytes of
streaming the normal bundle.
EOF
