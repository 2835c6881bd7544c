# bench/lib.sh — shared by the benchmark scripts (sourced, not run).

# make_ab_system DIR KEYRING SLOT_SIZE: a file-backed A/B device in DIR —
# two raw slot files of SLOT_SIZE bytes, a real grubenv with A primary, a
# kernel command line saying A was booted, and the system.conf for them.
make_ab_system() {
	local sys=$1 keyring=$2 size=$3
	mkdir -p "$sys/data" "$sys/mnt"
	for s in 0 1; do truncate -s "$size" "$sys/rootfs.$s.img"; done
	rm -f "$sys/grubenv"
	grub-editenv "$sys/grubenv" create
	reset_grub "$sys"
	echo "rauc.slot=A" >"$sys/cmdline"
	cat >"$sys/system.conf" <<EOF
[system]
compatible=rota-bench
bootloader=grub
grubenv=$sys/grubenv
data-directory=$sys/data
mountprefix=$sys/mnt

[keyring]
path=$keyring

[slot.rootfs.0]
device=$sys/rootfs.0.img
type=raw
bootname=A

[slot.rootfs.1]
device=$sys/rootfs.1.img
type=raw
bootname=B
EOF
}

# reset_grub [DIR]: A primary and both slots good again (DIR defaults to $sys).
reset_grub() {
	grub-editenv "${1:-$sys}/grubenv" set ORDER="A B" A_OK=1 A_TRY=0 B_OK=1 B_TRY=0
}
