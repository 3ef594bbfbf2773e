#!/bin/sh
# A login prompt on every console of the kernel command line (ttyS0 and tty0
# if it names none), started again after each logout. With INSECURE=true,
# root is logged in without a password, as with LinuxKit's getty.

# The host may provide root's password hash as /etc/getty.shadow.
if [ -f /hostroot/etc/getty.shadow ]; then
	cp /hostroot/etc/getty.shadow /etc/shadow
	echo >> /etc/shadow
fi

login_opts=
[ "$INSECURE" = true ] && login_opts="-n -l /usr/bin/autologin"

# run_getty CONSOLE: CONSOLE is a console= value such as ttyS0,115200n8.
run_getty() {
	tty=${1%%,*}
	speed=${1#"$tty"}
	speed=${speed#,}
	speed=${speed%%[!0-9]*}
	case "$tty" in
	tty[0-9]*) line= speed=38400 term=linux ;;
	*) line=-L speed=${speed:-115200} term=vt100 ;;
	esac
	[ -c "/dev/$tty" ] || { echo "getty: no /dev/$tty" >&2; return; }
	while true; do
		# shellcheck disable=SC2086 # options are word lists
		getty $line $login_opts "$speed" "$tty" "$term"
		sleep 1
	done
}

consoles=
for opt in $(cat /proc/cmdline); do
	case "$opt" in
	console=*) consoles="$consoles ${opt#console=}" ;;
	esac
done
for console in ${consoles:-ttyS0 tty0}; do
	run_getty "$console" &
done
wait
