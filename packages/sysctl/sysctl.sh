#!/bin/sh
# Apply each sysctl file; a setting that fails is reported and the rest go on.
status=0
for file in /etc/sysctl.d/*.conf /hostroot/etc/sysctl.d/*.conf; do
	[ -f "$file" ] || continue
	if sysctl -q -p "$file"; then
		echo "sysctl: applied ${file#/hostroot}"
	else
		echo "sysctl: some settings of ${file#/hostroot} failed"
		status=1
	fi
done
exit "$status"
