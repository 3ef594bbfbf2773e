#!/bin/sh
# mount.sh [-label LABEL | -device DEVICE] MOUNTPOINT
. /usr/lib/disks.sh
label= device= target=
while [ $# -gt 0 ]; do
	case "$1" in
	-label) label=$2; shift 2 ;;
	-device) device=$2; shift 2 ;;
	-*) echo "mount: unknown option $1"; exit 2 ;;
	*) target=$1; shift ;;
	esac
done
[ -n "$target" ] || { echo "mount: no mount point given"; exit 2; }
if [ -z "$device" ]; then
	for disk in $(whole_disks); do
		[ -n "$(fs_type "$disk")" ] || continue
		if [ -z "$label" ] || [ "$(fs_label "$disk")" = "$label" ]; then
			device=$disk
			break
		fi
	done
fi
if [ -z "$device" ]; then
	echo "mount: no disk${label:+ labelled $label} with a filesystem"
	exit 1
fi
mkdir -p "$target"
mount -t "$(fs_type "$device")" "$device" "$target" || { echo "mount: cannot mount $device"; exit 1; }
echo "mount: $device mounted on $target"
