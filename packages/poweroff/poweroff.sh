#!/bin/sh
# Wait TIMEOUT seconds (the first argument, default 30), then power the
# machine off cleanly: SIGUSR2 asks the host's init (busybox init) to power
# off, so the onshutdown containers run and the services are stopped. This
# works from onboot too, since init keeps handling signals while the onboot
# containers run. If the signal cannot be sent, or init has not finished
# after a generous delay, power off at once.
timeout=${1:-30}
sleep "$timeout"
echo "poweroff: powering off"
# In a private pid namespace we would be pid 1 ourselves: no init to ask.
if [ "$$" != 1 ] && kill -USR2 1; then
	sleep 120
	echo "poweroff: init did not power off in time, forcing it"
fi
poweroff -f
