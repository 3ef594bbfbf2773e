#!/bin/sh
# format.sh [-type ext4] [-label LABEL] [-force] [DEVICE]
. /usr/lib/disks.sh
# Without blkid every disk would look empty: never format then.
[ -x /sbin/blkid ] || { echo "format: no blkid, not formatting anything"; exit 1; }
type=ext4 label= force=false device=
while [ $# -gt 0 ]; do
	case "$1" in
	-type) type=$2; shift 2 ;;
	-label) label=$2; shift 2 ;;
	-force) force=true; shift ;;
	-*) echo "format: unknown option $1"; exit 2 ;;
	*) device=$1; shift ;;
	esac
done
case "$type" in ext2|ext3|ext4) ;; *) echo "format: unsupported type $type"; exit 2 ;; esac
if [ -z "$device" ]; then
	for disk in $(whole_disks); do
		if [ -z "$(fs_type "$disk")" ]; then device=$disk; break; fi
	done
	if [ -z "$device" ]; then
		echo "format: no empty disk to format"
		exit 0
	fi
fi
[ -b "$device" ] || { echo "format: $device is not a block device"; exit 1; }
existing=$(fs_type "$device")
if [ -n "$existing" ] && ! $force; then
	echo "format: $device already has a $existing filesystem, left as it is"
	exit 0
fi
set -- -q -F -t "$type"
[ -n "$label" ] && set -- "$@" -L "$label"
/sbin/mke2fs "$@" "$device" || { echo "format: mke2fs $device failed"; exit 1; }
echo "format: $device formatted as $type${label:+ (label $label)}"
