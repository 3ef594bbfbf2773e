"""Choosing QEMU's accelerator: KVM when it really works, TCG otherwise.

``/dev/kvm`` existing is not enough: on some hosts (nested or emulated KVM)
it opens, but guests hang with no output, die with "KVM internal error", or
abort with "failed to set MSR" (``-cpu host``). So the probe boots the very
kernel we are about to run under ``-accel kvm`` (skipped when the CPU shows
no VT-x/AMD-V flags at all, the common case of such hosts), without an initrd, and waits
for its first line ("Linux version") on the serial console. Under working KVM
that takes well under a second (under TCG it takes 1-1.5 s here), so 2 s
without it means KVM does not work. The answer is cached for the process.
"""

from __future__ import annotations

import os
import selectors
import subprocess
import time
from pathlib import Path

from distrokit.log import DistrokitError, debug

PROBE_SECONDS = 2.0
_BANNER = b"Linux version"

_kvm_works: bool | None = None


def resolve_accel(requested: str, qemu: str, kernel: Path | None) -> str:
    """``kvm``, ``tcg``, or for ``auto`` whichever works here."""
    if requested in ("kvm", "tcg"):
        return requested
    if requested != "auto":
        raise DistrokitError(f"unknown accelerator {requested!r}", "use kvm, tcg or auto")
    return "kvm" if kvm_works(qemu, kernel) else "tcg"


def kvm_works(qemu: str, kernel: Path | None) -> bool:
    global _kvm_works
    if _kvm_works is None:
        start = time.monotonic()
        _kvm_works = _probe(qemu, kernel)
        debug(f"KVM probe: {'works' if _kvm_works else 'unusable, using TCG'} "
              f"({time.monotonic() - start:.1f}s)")
    return _kvm_works


def _cpu_virtualises() -> bool:
    """Whether the CPU shows VT-x or AMD-V; without them KVM cannot run a guest."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return True  # cannot tell: let the boot probe decide
    return "vmx" in flags or "svm" in flags


def _probe(qemu: str, kernel: Path | None) -> bool:
    if not os.access("/dev/kvm", os.R_OK | os.W_OK) or not _cpu_virtualises():
        return False
    if kernel is None:  # an ISO or a disk: no kernel at hand to test-boot
        return True
    argv = [qemu, "-accel", "kvm", "-machine", "q35", "-nographic", "-nodefaults",
            "-serial", "stdio", "-no-reboot", "-m", "256", "-kernel", str(kernel),
            "-append", "console=ttyS0 earlyprintk=ttyS0 panic=-1"]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    assert proc.stdout is not None
    seen = b""
    deadline = time.monotonic() + PROBE_SECONDS
    try:
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            while _BANNER not in seen and (left := deadline - time.monotonic()) > 0:
                if not sel.select(left):
                    continue
                data = os.read(proc.stdout.fileno(), 65536)
                if not data:
                    break  # qemu exited: KVM refused the guest
                seen = seen[-64:] + data
        return _BANNER in seen
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


def _reset_cache() -> None:
    """For tests."""
    global _kvm_works
    _kvm_works = None
