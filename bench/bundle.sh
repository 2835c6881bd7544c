#!/bin/bash
# bundle.sh — rota vs RAUC on realistic images, in one run; prints a markdown
# report on stdout (progress goes to stderr).
#
# For a ~256 MiB and a ~1 GiB ext4 image (bench/mkimage.sh, 85% full):
#   * bundle creation: `rota bundle` vs `rauc bundle`, format=verity, the same
#     squashfs options for both (-comp gzip -b 131072, RAUC's default);
#     best wall-clock time of N runs, and the bundle sizes;
#   * extraction: `rota extract` vs `rauc extract` on the same verity bundle
#     (the one RAUC made and the one rota made), best of 3 after one warm-up
#     run each (the page cache cannot be dropped without root, so all
#     figures are warm-cache figures);
#   * the verity check alone (bench/verity_speed, rota_verity_check_all on 1
#     and on all cores) beside `openssl speed -evp sha256 -bytes 8192` on one
#     core.
#
# Environment:
#   ROTA           rota binary            (default $ROTA_BUILD_DIR/rota)
#   VERITY_SPEED   verity_speed binary    (default $ROTA_BUILD_DIR/bench/verity_speed)
#   ROTA_BUILD_DIR build directory        (default build-release)
#   RAUC           rauc binary            (default rauc)
#   BENCH_DIR      work directory         (default /tmp/rota-bench; images are reused)
#   BENCH_SIZES    image sizes in MiB     (default "256 1024")
#   BENCH_SKIP_1G=1  leave out the 1 GiB image (quick run)
#   BENCH_RUNS_SMALL / BENCH_RUNS_LARGE  bundle runs for <1 GiB / >=1 GiB (3 / 2)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(dirname "$here")
build=${ROTA_BUILD_DIR:-$src/build-release}
ROTA=${ROTA:-$build/rota}
VERITY_SPEED=${VERITY_SPEED:-$build/bench/verity_speed}
RAUC=${RAUC:-rauc}
work=${BENCH_DIR:-/tmp/rota-bench}
sizes=${BENCH_SIZES:-256 1024}
[ "${BENCH_SKIP_1G:-0}" = 1 ] && sizes=$(for s in $sizes; do if [ "$s" -lt 1024 ]; then echo "$s"; fi; done)
runs_small=${BENCH_RUNS_SMALL:-3}
runs_large=${BENCH_RUNS_LARGE:-2}
extract_runs=3
verity_runs=5
sqfs_args='-comp gzip -b 131072'

log() { echo "bench: $*" >&2; }

for tool in "$ROTA" "$VERITY_SPEED"; do
	[ -x "$tool" ] || { echo "bench: $tool not found (build first, see bench/run.sh)" >&2; exit 1; }
done
command -v "$RAUC" >/dev/null || { echo "bench: $RAUC not found" >&2; exit 1; }

mkdir -p "$work"
pki=$work/pki
[ -f "$pki/keyring.pem" ] || bash "$src/tests/pki.sh" "$pki" >/dev/null
cert=$pki/signer.cert.pem key=$pki/signer.key.pem inter=$pki/intermediate.pem keyring=$pki/keyring.pem

now() { echo "$EPOCHREALTIME"; }
# best_of N CLEANUP -- CMD...: runs CLEANUP (untimed) then CMD, N times;
# prints the best wall-clock seconds.
best_of() {
	local n=$1 cleanup=$2 best="" t0 t1 dt
	shift 3
	for ((i = 0; i < n; i++)); do
		eval "$cleanup"
		t0=$(now)
		"$@" >/dev/null 2>"$work/last.err" || { cat "$work/last.err" >&2; echo "bench: failed: $*" >&2; exit 1; }
		t1=$(now)
		dt=$(echo "$t1 - $t0" | bc -l)
		if [ -z "$best" ] || [ "$(echo "$dt < $best" | bc -l)" = 1 ]; then best=$dt; fi
	done
	printf '%.2f' "$best"
}
ratio() { printf '%.2f' "$(echo "$1 / $2" | bc -l)"; }
mib() { printf '%.1f' "$(echo "$1 / 1048576" | bc -l)"; }

# openssl's single-core SHA-256 on 8 KiB buffers, in MiB/s (the figure in the
# 8192-bytes column is in 1000s of bytes per second).
log "openssl speed -evp sha256 -bytes 8192 -seconds 3"
ossl_kbs=$(openssl speed -evp sha256 -bytes 8192 -seconds 3 2>/dev/null | awk '$1 == "sha256" {v = $NF} END {sub(/k$/, "", v); print v}')
ossl_mibs=$(printf '%.1f' "$(echo "$ossl_kbs * 1000 / 1048576" | bc -l)")
ncores=$(nproc)

table_bundle=""
table_extract=""
table_verity=""
results=""

for size in $sizes; do
	img=$work/rootfs-$size.ext4
	if [ ! -f "$img" ]; then
		log "making ${size} MiB image"
		bash "$here/mkimage.sh" "$img" "$size"
	fi
	in=$work/in-$size
	rm -rf "$in"
	mkdir -p "$in"
	ln "$img" "$in/rootfs.ext4" 2>/dev/null || cp "$img" "$in/rootfs.ext4"
	cat >"$in/manifest.raucm" <<EOF
[update]
compatible=rota-bench
version=$size

[bundle]
format=verity

[image.rootfs]
filename=rootfs.ext4
EOF
	if [ "$size" -ge 1024 ]; then n=$runs_large; else n=$runs_small; fi
	rota_b=$work/rota-$size.raucb
	rauc_b=$work/rauc-$size.raucb

	log "${size} MiB: rota bundle x$n"
	t_rota_b=$(best_of "$n" "rm -f '$rota_b'" -- "$ROTA" bundle --cert="$cert" --key="$key" --intermediate="$inter" \
		--mksquashfs-args="$sqfs_args" "$in" "$rota_b")
	log "${size} MiB: rauc bundle x$n"
	t_rauc_b=$(best_of "$n" "rm -f '$rauc_b'" -- "$RAUC" bundle --cert="$cert" --key="$key" --intermediate="$inter" \
		--mksquashfs-args="$sqfs_args" "$in" "$rauc_b")
	s_rota=$(stat -c %s "$rota_b")
	s_rauc=$(stat -c %s "$rauc_b")
	table_bundle+="| ${size} MiB | $t_rota_b s | $t_rauc_b s | $(ratio "$t_rauc_b" "$t_rota_b")x | $(mib "$s_rota") MiB | $(mib "$s_rauc") MiB |"$'\n'

	for b in "$rauc_b" "$rota_b"; do
		which=$(basename "$b" | cut -d- -f1)
		out=$work/out
		log "${size} MiB: extract the $which-made bundle (warm-up + x$extract_runs each)"
		best_of 1 "rm -rf '$out'" -- "$ROTA" extract --keyring="$keyring" "$b" "$out" >/dev/null
		best_of 1 "rm -rf '$out'" -- "$RAUC" extract --keyring="$keyring" "$b" "$out" >/dev/null
		cmp -s "$out/rootfs.ext4" "$img" || { echo "bench: rauc extract of $b differs from the image" >&2; exit 1; }
		t_rota_x=$(best_of $extract_runs "rm -rf '$out'" -- "$ROTA" extract --keyring="$keyring" "$b" "$out")
		cmp -s "$out/rootfs.ext4" "$img" || { echo "bench: rota extract of $b differs from the image" >&2; exit 1; }
		t_rauc_x=$(best_of $extract_runs "rm -rf '$out'" -- "$RAUC" extract --keyring="$keyring" "$b" "$out")
		rm -rf "$out"
		table_extract+="| ${size} MiB | $which | $t_rota_x s | $t_rauc_x s | $(ratio "$t_rauc_x" "$t_rota_x")x |"$'\n'
	done

	log "${size} MiB: verity_speed"
	vs=$("$VERITY_SPEED" --repeat=$verity_runs --threads="1,all" "$keyring" "$rota_b")
	echo "$vs" >&2
	# check_all: a fresh open per run (mapping included); check_all-warm-map:
	# one open bundle whose mapping is populated (see bench/verity_speed.c).
	field() { echo "$vs" | awk -v w="$1" -v n="$2" '$2 == w && $3 == "threads=" n {for (i = 1; i <= NF; i++) if ($i ~ /^mib_s=/) print substr($i, 7)}'; }
	v1=$(field check_all 1)
	vall=$(field check_all "$ncores")
	w1=$(field check_all-warm-map 1)
	wall=$(field check_all-warm-map "$ncores")
	hash_only=$(echo "$vs" | awk '/ hash-only threads/ {for (i = 1; i <= NF; i++) if ($i ~ /^mib_s=/) print substr($i, 7)}')
	payload=$(echo "$vs" | awk '/payload=/ {for (i = 1; i <= NF; i++) if ($i ~ /^payload=/) print substr($i, 9)}')
	pct() { printf '%.0f' "$(echo "100 * $1 / ($2 * $ossl_mibs)" | bc -l)"; }
	table_verity+="| ${size} MiB ($(mib "$payload") MiB payload) | 1 | $v1 MiB/s | $(pct "$v1" 1)% | $w1 MiB/s | $(pct "$w1" 1)% |"$'\n'
	if [ "$ncores" -gt 1 ]; then
		table_verity+="| ${size} MiB ($(mib "$payload") MiB payload) | $ncores | $vall MiB/s | $(pct "$vall" "$ncores")% | $wall MiB/s | $(pct "$wall" "$ncores")% |"$'\n'
	fi
	results+="- ${size} MiB: in-memory salt+4 KiB SHA-256 as verity.c does it (one core): $hash_only MiB/s"$'\n'
done

cat <<EOF
## rota vs RAUC $("$RAUC" --version | awk '{print $2}')

Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(awk '/MemTotal/ {printf "%.0f GiB RAM", $2 / 1048576}' /proc/meminfo); $(date -u +%Y-%m-%d).
Squashfs options for both tools: \`$sqfs_args\`; manifest \`format=verity\`.
All timings are wall-clock, warm page cache (it cannot be dropped without root).

### Bundle creation (best of $runs_small for < 1 GiB, $runs_large for 1 GiB) — target: rota no slower than rauc

| image | rota bundle | rauc bundle | rauc/rota | rota bundle size | rauc bundle size |
|---|---|---|---|---|---|
${table_bundle}
### Extraction (one warm-up run, then best of $extract_runs) — target: rota ≥ 1.6x faster

| image | bundle made by | rota extract | rauc extract | rauc/rota |
|---|---|---|---|---|
${table_extract}
### Verity check alone (rota_verity_check_all, best of $verity_runs) — target: ≥ 85% of openssl per core used

openssl speed -evp sha256 -bytes 8192 -seconds 3 (one core): $ossl_kbs kB/s = $ossl_mibs MiB/s; ratio = check / (threads x openssl).
"fresh open": the bundle opened for every run (mapping it included); "warm mapping": one open bundle, mapped by an earlier run.

| payload | threads | fresh open | ratio | warm mapping | ratio |
|---|---|---|---|---|---|
${table_verity}
${results}
EOF
