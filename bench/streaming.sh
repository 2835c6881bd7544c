#!/bin/bash
# streaming.sh — streamed install of a ~256 MiB verity bundle from a local
# nginx (issue 4 §7), printing a markdown section on stdout:
#  1. loopback: bytes downloaded per byte needed, requests, wall time against
#     `curl -o /dev/null` of the same bundle in the same run;
#  2. behind a shaped link: rota and curl run in a network namespace joined
#     by a veth pair whose host side is limited with `tc qdisc ... tbf rate
#     80mbit` (10 MB/s); wall time against bundle size / rate.
# Needs root (nginx, ip netns, tc). ROTA_BUILD_DIR: a built tree (release
# for figures). BENCH_DIR: work directory (default: a fresh temp dir).
# BENCH_SIZE_MIB: image size (default 256). BENCH_SKIP_SHAPED=1 skips part 2.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$src/bench/lib.sh"
build=${ROTA_BUILD_DIR:-$src/build}
rota=$build/rota
size_mib=${BENCH_SIZE_MIB:-256}
rate=80mbit
rate_bytes=10000000
ns=rota-bench-$$
work=${BENCH_DIR:-$(mktemp -d /tmp/rota-streaming-bench.XXXXXX)}
nginx_pid=""

cleanup() {
	[ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null || true
	ip netns del "$ns" 2>/dev/null || true
	ip link del "veth-rb$$" 2>/dev/null || true
	[ -n "${BENCH_DIR:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }
elapsed() { echo "$2 - $1" | bc -l | xargs printf '%.2f'; }
ratio() { echo "$1 / $2" | bc -l | xargs printf '%.2f'; }

[ -x "$rota" ] || { echo "bench: build rota first ($rota missing)" >&2; exit 1; }
mkdir -p "$work"/{www,pki,in,sys}
bash "$src/tests/pki.sh" "$work/pki" >/dev/null

# ---- the bundle ----
head -c $((size_mib << 20)) /dev/urandom >"$work/in/rootfs.img"
cat >"$work/in/manifest.raucm" <<EOF
[update]
compatible=rota-bench
version=1.0

[bundle]
format=verity

[image.rootfs]
filename=rootfs.img
EOF
bundle=$work/www/bench.raucb
"$rota" bundle --cert="$work/pki/signer.cert.pem" --key="$work/pki/signer.key.pem" \
	--intermediate="$work/pki/intermediate.pem" "$work/in" "$bundle" >/dev/null
rm -f "$work/in/rootfs.img"
bundle_size=$(stat -c %s "$bundle")

# ---- a file-backed A/B system (grub stand-in) ----
sys=$work/sys
make_ab_system "$sys" "$work/pki/keyring.pem" $(((size_mib + 8) << 20))

# ---- nginx on all addresses of a free port ----
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("", 0)); print(s.getsockname()[1])')
mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<EOF
user root;
daemon off;
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 64; }
http {
    access_log $work/nginx/access.log;
    client_body_temp_path $work/nginx/body; proxy_temp_path $work/nginx/proxy;
    fastcgi_temp_path $work/nginx/fastcgi; uwsgi_temp_path $work/nginx/uwsgi; scgi_temp_path $work/nginx/scgi;
    sendfile on;
    server { listen $port; root $work/www; }
}
EOF
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
nginx_pid=$!
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done

# run_install HOST [netns-prefix...]: one streamed install; sets t_rota and stats.
run_install() {
	local host=$1
	shift
	reset_grub
	rm -rf "$sys/data"
	local t0 t1 out
	t0=$(now)
	out=$(ROTA_CMDLINE_FILE=$sys/cmdline "$@" "$rota" --conf="$sys/system.conf" install \
		"http://$host:$port/bench.raucb")
	t1=$(now)
	t_rota=$(elapsed "$t0" "$t1")
	stats=$(grep '^Streaming:' <<<"$out")
	requests=$(sed -E 's/.* in ([0-9]+) requests.*/\1/' <<<"$stats")
	retries=$(sed -E 's/.*\(([0-9]+) retries\).*/\1/' <<<"$stats")
	per_byte=$(sed -E 's/.* s, ([0-9.]+) bytes downloaded per byte needed/\1/' <<<"$stats")
}

# The same install from the local file: what rota itself costs.
run_local() {
	reset_grub
	rm -rf "$sys/data"
	local t0 t1
	t0=$(now)
	ROTA_CMDLINE_FILE=$sys/cmdline "$rota" --conf="$sys/system.conf" install "$bundle" >/dev/null
	t1=$(now)
	t_local=$(elapsed "$t0" "$t1")
}

run_curl() {
	local host=$1
	shift
	local t0 t1
	t0=$(now)
	"$@" curl -s -o /dev/null "http://$host:$port/bench.raucb"
	t1=$(now)
	t_curl=$(elapsed "$t0" "$t1")
}

mib=$(echo "$bundle_size / 1048576" | bc -l | xargs printf '%.1f')
budget=$(echo "$bundle_size / 1048576 + 20" | bc -l | xargs printf '%.0f')

run_local
run_curl 127.0.0.1
run_install 127.0.0.1
# The floor any install that checks the image's sha256 (issue 3) has here:
# one sequential SHA-256 over the image on one core, measured in this run.
sha_kbs=$(openssl speed -evp sha256 -bytes 8192 -seconds 3 2>/dev/null | awk '/^sha256/ {v = $NF} END {sub(/k$/, "", v); print v}')
sha_mibs=$(echo "$sha_kbs * 1000 / 1048576" | bc -l | xargs printf '%.0f')
t_sha=$(echo "$size_mib / $sha_mibs" | bc -l | xargs printf '%.3f')
t_curl_loopback=$t_curl
cat <<EOF
## Streaming (issue 4)

\`bench/streaming.sh\`: \`rota install http://…\` of a verity bundle with one
${size_mib} MiB random raw image (bundle ${bundle_size} bytes, ${mib} MiB) from nginx into
file-backed A/B slots, as root (the fetch helper runs as \`nobody\`).
Machine: $(nproc) cores, $(uname -r), $(date -u +%Y-%m-%d).

| link | rota install (streamed) | curl -o /dev/null | rota / curl | requests (budget) | retries | downloaded per byte needed |
|---|---|---|---|---|---|---|
| loopback | ${t_rota} s | ${t_curl} s | $(ratio "$t_rota" "$t_curl")x | ${requests} (≤ ${budget}) | ${retries} | ${per_byte} |
EOF

if [ "${BENCH_SKIP_SHAPED:-0}" != 1 ]; then
	host_if=veth-rb$$
	ip netns add "$ns"
	ip link add "$host_if" type veth peer name eth0 netns "$ns"
	ip addr add 10.77.$(($$ % 250)).1/24 dev "$host_if"
	ip link set "$host_if" up
	ip -n "$ns" addr add 10.77.$(($$ % 250)).2/24 dev eth0
	ip -n "$ns" link set eth0 up
	ip -n "$ns" link set lo up
	# Shape what the server sends: the host side's egress.
	tc qdisc add dev "$host_if" root tbf rate $rate burst 64kb latency 50ms
	server=10.77.$(($$ % 250)).1
	run_curl "$server" ip netns exec "$ns"
	run_install "$server" ip netns exec "$ns"
	ideal=$(echo "$bundle_size / $rate_bytes" | bc -l | xargs printf '%.2f')
	cat <<EOF
| ${rate} tbf (veth, netns) | ${t_rota} s | ${t_curl} s | $(ratio "$t_rota" "$t_curl")x | ${requests} (≤ ${budget}) | ${retries} | ${per_byte} |

Shaped link: bundle size / rate = ${ideal} s; rota took ${t_rota} s =
$(ratio "$t_rota" "$ideal")x of that (target ≤ 1.1x).
EOF
fi

cat <<EOF

Loopback floor: the install compares the ${size_mib} MiB image with the
manifest's sha256 (issue 3), one sequential SHA-256 at ${sha_mibs} MiB/s
(\`openssl speed -evp sha256 -bytes 8192 -seconds 3\`, one core) = ${t_sha} s
on its own = $(ratio "$t_sha" "$t_curl_loopback")x of curl (target 1.3x). The same
install from the local file: ${t_local} s.
EOF
