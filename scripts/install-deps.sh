#!/bin/bash
# Installs the Debian 12 packages rota needs to build, test and demo,
# skipping the apt round trip when everything is already there.
set -euo pipefail

packages=(
	# build
	gcc meson ninja-build pkg-config
	libglib2.0-dev libssl-dev libcurl4-openssl-dev libsquashfs-dev libjson-glib-dev libarchive-dev libdeflate-dev zlib1g-dev
	# tools rota drives on a device (mkfs, bootloader environments)
	e2fsprogs dosfstools grub-common libubootenv-tool
	# NAND/NOR/UBI slots: flash_erase, nandwrite, flashcp, ubiupdatevol
	mtd-utils
	# tests and interop peers
	python3 python3-pytest rauc squashfs-tools cryptsetup-bin openssl strace mtools
	libengine-pkcs11-openssl softhsm2 opensc python3-cryptography
	# plain-bundle checks on loop-mounted ext4 and btrfs file systems
	btrfs-progs
	# boot region slots: partitioned disk-image files, GPT checks
	fdisk gdisk
	# adaptive benchmark peers
	casync zsync
	# streaming tests and benchmark: real web servers, tc/ip netns
	nginx lighttpd lighttpd-mod-openssl iproute2 curl
	# D-Bus service tests: a private bus, gdbus/busctl, python clients, script(1) for a TTY
	dbus-daemon libglib2.0-bin systemd python3-dbus python3-gi bsdutils
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
echo "installing: ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
