#!/bin/sh
# Find the config ISO, copy its data to /run/config, expand LinuxKit's JSON form.
out=/run/config
mkdir -p "$out"
found=
for dev in /dev/sr[0-9]* /dev/vd[a-z] /dev/sd[a-z]; do
	[ -b "$dev" ] || continue
	mount -t iso9660 -o ro "$dev" /mnt 2>/dev/null || continue
	for name in config user-data; do
		if [ -f "/mnt/$name" ]; then
			cp "/mnt/$name" "$out/userdata"
			found=$dev
			break
		fi
	done
	umount /mnt
	[ -n "$found" ] && break
done
if [ -z "$found" ]; then
	echo "metadata: no config ISO found"
	exit 0
fi
echo cdrom > "$out/provider"
echo "metadata: user data from $found in $out/userdata"

# Each line: d PATH PERM, or f PATH PERM BASE64-CONTENT.
walk='def walk(p): to_entries[] | (p + "/" + .key) as $q |
	if (.value | type) != "object" then empty
	elif .value.entries then "d\t\($q)\t\(.value.perm // "0755")", (.value.entries | walk($q))
	elif .value | has("content") then
		"f\t\($q)\t\(.value.perm // "0644")\t\(.value.content | tostring | @base64)"
	else empty end;
if type == "object" then walk("") else empty end'
jq -r "$walk" "$out/userdata" 2>/dev/null | while IFS="$(printf '\t')" read -r kind path perm content; do
	case "$path" in *..*|"/userdata"|"/provider") echo "metadata: skipped $path"; continue ;; esac
	case "$perm" in *[!0-7]*|"") perm=0644 ;; esac
	if [ "$kind" = d ]; then
		mkdir -p "$out$path" && chmod "$perm" "$out$path"
	else
		mkdir -p "$(dirname "$out$path")"
		echo "$content" | base64 -d > "$out$path" && chmod "$perm" "$out$path"
		echo "metadata: wrote $out$path"
	fi
done
exit 0
