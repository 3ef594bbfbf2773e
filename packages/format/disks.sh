# Shared by format and mount: the machine's disks.

# whole_disks: /dev/NAME of each writable, non-removable whole disk without
# partitions, in name order.
whole_disks() {
	for sys in /sys/block/*; do
		name=${sys##*/}
		case "$name" in loop*|ram*|sr*|fd*|zram*) continue ;; esac
		[ "$(cat "$sys/ro" 2>/dev/null)" = 0 ] || continue
		[ "$(cat "$sys/removable" 2>/dev/null)" = 1 ] && continue
		[ "$(cat "$sys/size" 2>/dev/null)" != 0 ] || continue
		ls -d "$sys/$name"* >/dev/null 2>&1 && continue  # has partitions
		echo "/dev/$name"
	done
}

# fs_type DEVICE: the filesystem type on DEVICE, empty when none
# (util-linux's blkid, probing the device itself: busybox has none).
fs_type() {
	/sbin/blkid -p -o value -s TYPE "$1" 2>/dev/null
}

# fs_label DEVICE: its filesystem label.
fs_label() {
	/sbin/blkid -p -o value -s LABEL "$1" 2>/dev/null
}
