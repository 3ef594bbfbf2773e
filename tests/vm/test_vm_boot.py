"""Boot a real kernel with a busybox initrd written by our own cpio writer.

Needs a kernel: DISTROKIT_TEST_KERNEL, or the one packages/kernel builds
(see the real_kernel fixture).
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from distrokit.log import DistrokitError
from distrokit.output.compress import Compression
from distrokit.output.kernel_initrd import write_kernel_initrd
from distrokit.stream import Entry, Kind, directory, file, symlink
from distrokit.vm.qemu import find_kernel_artifacts, run_qemu

pytestmark = pytest.mark.boot

BUSYBOX = Path("/bin/busybox")
MARKER = "DISTROKIT-BOOT-OK"


@pytest.fixture
def kernel(real_kernel: Path) -> Path:
    if shutil.which("qemu-system-x86_64") is None:
        pytest.skip("qemu-system-x86_64 not installed (apt-get install qemu-system-x86)")
    if not BUSYBOX.is_file():
        pytest.skip("/bin/busybox not found (apt-get install busybox-static)")
    return real_kernel


def busybox_root(init: str) -> list[Entry]:
    data = BUSYBOX.read_bytes()
    return [
        Entry("bin/busybox", Kind.FILE, mode=0o755, size=len(data), data=io.BytesIO(data)),
        symlink("bin/sh", "busybox"),
        # A hard link must arrive as a working (symlinked) applet.
        Entry("sbin/poweroff", Kind.HARDLINK, linkname="bin/busybox"),
        directory("proc"),
        Entry("dev/console", Kind.CHAR, mode=0o600, devmajor=5, devminor=1),
        file("init", f"#!/bin/sh\n{init}".encode(), mode=0o755),
    ]


def boot(kernel: Path, tmp_path: Path, init: str, compression: Compression = Compression.ZSTD,
         ) -> tuple[int, str]:
    write_kernel_initrd(tmp_path, "t", kernel, "quiet", busybox_root(init), compression)
    kernel, initrd, cmdline = find_kernel_artifacts(str(tmp_path / "t"))
    console = io.BytesIO()
    try:
        rc = run_qemu(kernel, initrd, cmdline, mem_mb=256, timeout=60, console_out=console)
    finally:
        print(console.getvalue().decode(errors="replace"))
    return rc, console.getvalue().decode(errors="replace")


@pytest.mark.parametrize("compression", list(Compression))
def test_boots_and_powers_off(kernel: Path, tmp_path: Path, compression: Compression) -> None:
    rc, console = boot(kernel, tmp_path, f"echo {MARKER}\npoweroff -f\n", compression)
    assert rc == 0
    assert MARKER in console


def test_init_exiting_is_a_panic(kernel: Path, tmp_path: Path) -> None:
    with pytest.raises(DistrokitError, match="kernel panic: Attempted to kill init"):
        boot(kernel, tmp_path, "echo bye\nexit 3\n")
