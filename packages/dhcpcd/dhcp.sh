#!/bin/sh
# dhcp.sh [-1] [INTERFACE...]: a DHCP lease for each interface (default: all
# but lo). With -1, get one lease and exit (for onboot); otherwise stay in
# the foreground and renew.
script=/usr/share/udhcpc/default.script
oneshot=false
if [ "$1" = "-1" ]; then
	oneshot=true
	shift
fi
interfaces=$*
if [ -z "$interfaces" ]; then
	for dev in /sys/class/net/*; do
		[ "${dev##*/}" = lo ] || interfaces="$interfaces ${dev##*/}"
	done
fi
[ -n "$interfaces" ] || { echo "dhcp: no network interface"; exit 1; }
status=0
for dev in $interfaces; do
	ip link set "$dev" up
	if $oneshot; then
		udhcpc -i "$dev" -s "$script" -n -q -t 10 -T 2 -S || { echo "dhcp: no lease on $dev"; status=1; }
	else
		udhcpc -i "$dev" -s "$script" -f -S &
	fi
done
$oneshot && exit "$status"
trap 'kill $(jobs -p) 2>/dev/null; exit 0' TERM INT
wait
