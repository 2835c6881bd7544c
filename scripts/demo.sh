#!/bin/bash
# rota's main job, end to end, on file-backed slots: a test PKI, two root
# filesystem versions, signed verity bundles that also carry an app (an
# artifact), and A/B installs with the grub backend on a real grubenv file.
# `make demo` runs it.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
ROTA=${ROTA_BUILD_DIR:-$SRC/build}/rota
DEMO=${DEMO_DIR:-$(mktemp -d /tmp/rota-demo-XXXXXX)}
cd "$DEMO"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

step "Test PKI (root CA, intermediate, signer) in $DEMO/pki"
bash "$SRC/tests/pki.sh" pki

step "Two root filesystem versions (ext4 images made with mkfs.ext4 -d)"
make_rootfs() { # version
	rm -rf "root-$1" && mkdir -p "root-$1/etc" "root-$1/usr/share/demo"
	echo "rota-demo $1" > "root-$1/etc/os-release"
	# some content that changes between versions, deterministic per version
	python3 -c "import random,sys; r=random.Random('$1'); sys.stdout.buffer.write(r.randbytes(2*1024*1024))" \
		> "root-$1/usr/share/demo/data.bin"
	rm -f "rootfs-$1.ext4"
	mkfs.ext4 -q -L rootfs -d "root-$1" "rootfs-$1.ext4" 16M
}
make_rootfs 1.0
make_rootfs 2.0
ls -l rootfs-*.ext4

step "Bundles (format=verity) with the rootfs and an app, signed with the test signer"
for v in 1.0 2.0; do
	rm -rf "bundle-$v" "app-$v" && mkdir "bundle-$v" && mkdir -p "app-$v/bin"
	cp "rootfs-$v.ext4" "bundle-$v/rootfs.ext4"
	printf '#!/bin/sh\necho "hello from app %s"\n' "$v" > "app-$v/bin/hello"
	chmod 755 "app-$v/bin/hello"
	python3 -c "import random,sys; sys.stdout.buffer.write(random.Random('app$v').randbytes(64*1024))" \
		> "app-$v/bin/data"
	tar -C "app-$v" -czf "bundle-$v/hello.tar.gz" bin
	cat > "bundle-$v/manifest.raucm" <<EOM
[update]
compatible=rota-demo-board
version=$v

[bundle]
format=verity

[image.rootfs]
filename=rootfs.ext4

[image.apps/hello]
filename=hello.tar.gz
EOM
	rm -f "update-$v.raucb"
	run "$ROTA" bundle --cert=pki/signer.cert.pem --key=pki/signer.key.pem \
		--intermediate=pki/intermediate.pem "bundle-$v" "update-$v.raucb"
done
run "$ROTA" info --keyring=pki/keyring.pem update-2.0.raucb

step "A device: two file-backed slots A/B, an app repository, a grubenv, a system.conf"
mkdir -p apps
truncate -s 24M slot-a.img slot-b.img
cp rootfs-1.0.ext4 slot-a.img.tmp && truncate -s 24M slot-a.img.tmp && mv slot-a.img.tmp slot-a.img
grub-editenv grubenv create
grub-editenv grubenv set ORDER="A B" A_OK=1 A_TRY=0 B_OK=1 B_TRY=0
cat > system.conf <<EOC
[system]
compatible=rota-demo-board
bootloader=grub
grubenv=grubenv
data-directory=data
mountprefix=$DEMO/mnt

[keyring]
path=pki/keyring.pem

[slot.rootfs.0]
device=slot-a.img
type=ext4
bootname=A

[slot.rootfs.1]
device=slot-b.img
type=ext4
bootname=B

[artifacts.apps]
path=apps
type=trees
description=Applications
EOC
cat system.conf
export ROTA_CMDLINE_FILE=$DEMO/cmdline
echo "root=/dev/mmcblk0p1 rauc.slot=A" > cmdline

step "Booted from A: status before any update"
run "$ROTA" --conf=system.conf status

step "Install 1.0 (goes to B, the slot group that is not running)"
run "$ROTA" --conf=system.conf install update-1.0.raucb
run "$ROTA" --conf=system.conf status --detailed
grub-editenv grubenv list

step "Reboot into B (the bootloader picks ORDER's first good entry), mark it good"
echo "root=/dev/mmcblk0p2 rauc.slot=B" > cmdline
run "$ROTA" --conf=system.conf status mark-good

step "Install 2.0 (goes to A now)"
run "$ROTA" --conf=system.conf install update-2.0.raucb
run "$ROTA" --conf=system.conf status
grub-editenv grubenv list

step "Check: slot A holds rootfs 2.0 byte for byte"
size=$(stat -c %s rootfs-2.0.ext4)
cmp -n "$size" slot-a.img rootfs-2.0.ext4 && echo "slot A == rootfs-2.0.ext4 ($size bytes)"
debugfs -R "cat /etc/os-release" slot-a.img 2>/dev/null

step "The app: the active instance is 2.0, the 1.0 instance was pruned"
run ls -la apps
run apps/hello/bin/hello

step "Done. Everything is in $DEMO"
