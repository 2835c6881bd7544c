#!/bin/bash
# crypt.sh — encrypted (crypt) bundle benchmarks; prints a markdown report on
# stdout (progress on stderr).
#
#   * `rota encrypt` vs `rauc encrypt`: wall time and output size for 1, 100,
#     1,000 and 10,000 recipients, RSA-2048 and EC P-256 certificates in one
#     PEM file per count (the input is a small crypt bundle, so the time is the
#     key wrapping). P-256 recipients have a key each; RSA-2048 recipients
#     share BENCH_RSA_KEYS (default 100) keys round-robin (distinct
#     certificates, subjects and serials) because generating 10,000 RSA keys
#     takes longer than the benchmark; the per-recipient work (one RSA public
#     key operation) is the same either way. Also: `rota info` of the
#     10,000-recipient bundle by the last recipient, with and without --cert.
#   * decrypt-plus-verify throughput of a ~1 GiB crypt bundle
#     (bench/crypt_speed: the decrypting verity view, one pass per block, and
#     the former crypt-view-over-verity-view stack, on 1 and on all
#     cores) beside `openssl speed -evp aes-256-cbc -decrypt` and
#     `-evp sha256` (4096-byte blocks, one core) in the same run.
#
# Environment:
#   ROTA_BUILD_DIR   build directory (default build-release; use a release build)
#   ROTA, CRYPT_SPEED, RAUC   binaries (defaults from ROTA_BUILD_DIR; rauc)
#   BENCH_DIR        work directory (default /tmp/rota-bench-crypt; reused)
#   BENCH_COUNTS     recipient counts (default "1 100 1000 10000")
#   BENCH_RSA_KEYS   distinct RSA keys (default 100)
#   BENCH_CRYPT_MIB  payload image size in MiB (default 1024; 0 skips)
#   BENCH_RUNS       runs per encrypt measurement, best reported (default 3)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(dirname "$here")
build=${ROTA_BUILD_DIR:-$src/build-release}
ROTA=${ROTA:-$build/rota}
CRYPT_SPEED=${CRYPT_SPEED:-$build/bench/crypt_speed}
RAUC=${RAUC:-rauc}
work=${BENCH_DIR:-/tmp/rota-bench-crypt}
counts=${BENCH_COUNTS:-1 100 1000 10000}
rsa_keys=${BENCH_RSA_KEYS:-100}
mib=${BENCH_CRYPT_MIB:-1024}
runs=${BENCH_RUNS:-3}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

log() { echo "bench: $*" >&2; }
for tool in "$ROTA" "$CRYPT_SPEED"; do
	[ -x "$tool" ] || { echo "bench: $tool not found (meson setup -Dbuildtype=release; ninja)" >&2; exit 1; }
done
have_rauc=1
command -v "$RAUC" >/dev/null || have_rauc=0
"$PY" -c 'import cryptography' 2>/dev/null || { echo "bench: python3-cryptography is needed" >&2; exit 1; }

mkdir -p "$work"
cd "$work"
[ -f pki/keyring.pem ] || bash "$src/tests/pki.sh" pki >/dev/null
sign=(--cert=pki/signer.cert.pem --key=pki/signer.key.pem --intermediate=pki/intermediate.pem)
ring=--keyring=pki/keyring.pem
max=${counts##* }

# ---- recipients ----
gen() { # gen KIND N NKEYS
	"$PY" - "$@" <<'PYEOF'
import datetime, sys, pathlib
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
kind, n, nkeys = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
out = pathlib.Path("rcp"); out.mkdir(exist_ok=True)
start = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)
keys = []
def save(tag, k, c):
    (out / f"{kind}-{tag}.key.pem").write_bytes(k.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    (out / f"{kind}-{tag}.cert.pem").write_bytes(c.public_bytes(serialization.Encoding.PEM))
with open(out / f"{kind}-all.pem", "wb") as f:
    for i in range(n):
        if i < nkeys:
            keys.append(ec.generate_private_key(ec.SECP256R1()) if kind == "p256"
                        else rsa.generate_private_key(65537, 2048))
        k = keys[i % len(keys)]
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{kind} device {i:05d}")])
        c = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(k.public_key())
             .serial_number(x509.random_serial_number()).not_valid_before(start)
             .not_valid_after(start + datetime.timedelta(days=3650)).sign(k, hashes.SHA256()))
        f.write(c.public_bytes(serialization.Encoding.PEM))
        if i == 0: save("first", k, c)
        if i == n - 1: save("last", k, c)
PYEOF
}
for kind in p256 rsa2048; do
	have=$(grep -c BEGIN "rcp/$kind-all.pem" 2>/dev/null || echo 0)
	if [ "$have" -lt "$max" ]; then
		log "generating $max $kind recipient certificates"
		gen "$kind" "$max" "$([ $kind = p256 ] && echo "$max" || echo "$rsa_keys")"
	fi
	for n in $counts; do
		awk -v n="$n" '/BEGIN CERT/{c++} c<=n' "rcp/$kind-all.pem" >"rcp/$kind-$n.pem"
	done
done

# ---- a small crypt bundle to encrypt ----
if [ ! -f small.raucb ]; then
	mkdir -p insmall
	head -c 65536 /dev/urandom >insmall/rootfs.img
	printf '[update]\ncompatible=rota-bench\nversion=1\n\n[bundle]\nformat=crypt\n\n[image.rootfs]\nfilename=rootfs.img\n' >insmall/manifest.raucm
	"$ROTA" bundle "${sign[@]}" insmall small.raucb >/dev/null
fi
small_size=$(stat -c %s small.raucb)
printf '[system]\ncompatible=rota-bench\nbootloader=noop\nmax-bundle-signature-size=268435456\n' >big.conf

now() { echo "$EPOCHREALTIME"; }
best_of() { # best_of N OUT -- CMD...: removes OUT, runs CMD; best wall seconds (or "fail")
	local n=$1 out=$2 best="" t0 t1 dt
	shift 3
	for ((i = 0; i < n; i++)); do
		rm -f "$out"
		t0=$(now)
		"$@" >/dev/null 2>"$work/err" || { echo fail; return; }
		t1=$(now)
		dt=$(echo "$t1 - $t0" | bc -l)
		if [ -z "$best" ] || [ "$(echo "$dt < $best" | bc -l)" = 1 ]; then best=$dt; fi
	done
	printf '%.3f' "$best"
}
cms_size() { "$PY" -c 'import struct,sys; d=open(sys.argv[1],"rb"); d.seek(-8,2); print(struct.unpack(">Q",d.read(8))[0])' "$1"; }

echo "### Encrypting for many recipients (\`rota encrypt\` vs \`rauc encrypt\`)"
echo
echo "Host: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(openssl version | cut -d' ' -f1-2); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)."
echo "Input: a crypt bundle of $small_size bytes; best of $runs runs (1 for 10,000)."
echo
echo "| recipients | key | rota s | rauc s | rota output bytes | CMS bytes | bytes/recipient | rauc output bytes |"
echo "|---:|---|---:|---:|---:|---:|---:|---:|"
for kind in p256 rsa2048; do
	for n in $counts; do
		r=$runs; [ "$n" -ge 10000 ] && r=1
		log "encrypt $kind x $n"
		t_rota=$(best_of "$r" "enc-$kind-$n.raucb" -- "$ROTA" encrypt "$ring" "--to=rcp/$kind-$n.pem" small.raucb "enc-$kind-$n.raucb")
		[ "$t_rota" = fail ] && cat "$work/err" >&2
		t_rauc=n/a size_rauc=n/a
		if [ $have_rauc = 1 ]; then
			t_rauc=$(best_of "$r" "rauc-$kind-$n.raucb" -- timeout 600 "$RAUC" encrypt "$ring" "--to=rcp/$kind-$n.pem" small.raucb "rauc-$kind-$n.raucb")
			[ -f "rauc-$kind-$n.raucb" ] && size_rauc=$(stat -c %s "rauc-$kind-$n.raucb")
		fi
		size=$(stat -c %s "enc-$kind-$n.raucb")
		cms=$(cms_size "enc-$kind-$n.raucb")
		echo "| $n | ${kind/p256/P-256} | $t_rota | $t_rauc | $size | $cms | $((cms / n)) | $size_rauc |"
	done
done
echo
echo "Decrypting the $max-recipient bundles as the last recipient (\`rota --conf=... info --key=...\`, max-bundle-signature-size raised):"
echo
echo "| key | with --cert s | key only s |"
echo "|---|---:|---:|"
for kind in p256 rsa2048; do
	b=enc-$kind-$max.raucb
	t1=$(best_of "$runs" /dev/null/x -- "$ROTA" --conf=big.conf info "$ring" "--key=rcp/$kind-last.key.pem" "--cert=rcp/$kind-last.cert.pem" "$b")
	t2=$(best_of "$runs" /dev/null/x -- "$ROTA" --conf=big.conf info "$ring" "--key=rcp/$kind-last.key.pem" "$b")
	echo "| ${kind/p256/P-256} | $t1 | $t2 |"
done
echo

[ "$mib" -gt 0 ] || exit 0

# ---- decrypt + verify throughput ----
if [ ! -f big-enc.raucb ] || [ "$(cat big.mib 2>/dev/null)" != "$mib" ]; then
	log "building a $mib MiB crypt bundle"
	rm -rf inbig big.raucb big-enc.raucb
	mkdir -p inbig
	head -c $((mib * 1048576)) /dev/urandom >inbig/rootfs.img
	printf '[update]\ncompatible=rota-bench\nversion=1\n\n[bundle]\nformat=crypt\n\n[image.rootfs]\nfilename=rootfs.img\n' >inbig/manifest.raucm
	"$ROTA" bundle "${sign[@]}" inbig big.raucb >/dev/null
	"$ROTA" encrypt "$ring" --to=rcp/p256-first.cert.pem big.raucb big-enc.raucb >/dev/null
	rm -f big.raucb
	echo "$mib" >big.mib
fi
ossl() { # ossl ARGS...: MB/s (10^6) at 4096-byte blocks, one core
	openssl speed -seconds 3 -bytes 4096 "$@" 2>/dev/null | tail -1 | awk '{sub("k","",$NF); printf "%.0f", $NF / 1000 * 1000 / 1048576 * 1000}'
}
log "openssl speed + crypt_speed"
aes1=$(ossl -evp aes-256-cbc -decrypt)
sha1=$(ossl -evp sha256)
speed=$("$CRYPT_SPEED" --repeat=3 --key=rcp/p256-first.key.pem pki/keyring.pem big-enc.raucb)
aes2=$(ossl -evp aes-256-cbc -decrypt)
sha2=$(ossl -evp sha256)
aes=$(( aes1 > aes2 ? aes1 : aes2 )) sha=$(( sha1 > sha2 ? sha1 : sha2 ))
slow=$(( aes < sha ? aes : sha ))
echo "### Decrypt plus verify ($(stat -c %s big-enc.raucb) byte crypt bundle, warm page cache)"
echo
echo "openssl speed, one core, 4096-byte blocks (best of before/after): aes-256-cbc decrypt $aes MiB/s, sha256 $sha MiB/s;"
echo "target: 80% of the slower ($slow MiB/s) per core = $((slow * 8 / 10)) MiB/s per core."
echo "Load average after: $(cut -d' ' -f1-3 /proc/loadavg)."
echo
echo "| measurement | threads | MiB/s | MiB/s per core | % of slower openssl per core |"
echo "|---|---:|---:|---:|---:|"
echo "$speed" | awk -v slow="$slow" '/mib_s=/ {
	for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
	what = $2; t = v["threads"]; r = v["mib_s"];
	printf "| %s | %s | %.0f | %.0f | %.0f%% |\n", what, t, r, r / t, 100 * r / t / slow }'
echo
echo '```'
echo "$speed"
echo '```'
