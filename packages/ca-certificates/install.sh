#!/bin/sh
# Concatenate the certificates into the system's bundle (atomically).
set -e
dir=/hostroot/etc/ssl/certs
mkdir -p "$dir"
tmp="$dir/.ca-certificates.crt.$$"
cat /usr/share/ca-certificates/*/*.crt > "$tmp"
mv -f "$tmp" "$dir/ca-certificates.crt"
echo "ca-certificates: $(grep -c 'BEGIN CERTIFICATE' "$dir/ca-certificates.crt") certificates in /etc/ssl/certs/ca-certificates.crt"
