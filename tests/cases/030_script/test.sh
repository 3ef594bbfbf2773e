#!/bin/sh
# SUMMARY: A test.sh case: boot the built system, look for "suite PASSED"
# LABELS:
# TIMEOUT: 240
set -e
# distrokit test built test.yml to $DISTROKIT_TEST_OUTPUT (D/N).
distrokit run qemu --timeout 200 "$DISTROKIT_TEST_OUTPUT" > console.txt
grep -q "suite PASSED" console.txt
