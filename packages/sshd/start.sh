#!/bin/sh
# Host key, authorized keys, then sshd in the foreground (logs on stderr).
set -e
key=/etc/ssh/ssh_host_ed25519_key
[ -f "$key" ] || ssh-keygen -q -t ed25519 -N '' -f "$key"
mkdir -p -m 0755 /run/sshd
mkdir -p -m 0700 /root/.ssh
keys=/root/.ssh/authorized_keys
: > "$keys"
for file in /hostroot/root/.ssh/authorized_keys /hostroot/run/config/ssh/authorized_keys; do
	if [ -f "$file" ]; then
		cat "$file" >> "$keys"
		echo >> "$keys"
	fi
done
chmod 0600 "$keys"
echo "sshd: $(grep -c '^ssh-\|^ecdsa-\|^sk-' "$keys" || true) authorized key(s) for root"
exec /usr/sbin/sshd -D -e
