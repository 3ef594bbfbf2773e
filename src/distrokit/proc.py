"""The one way to run a host tool: argv lists (never a shell string), a
preflight check that names the Debian package to install, and failures that
say which command failed and what it printed."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from distrokit.log import DistrokitError, debug

# Host tool -> the Debian package that provides it.
PACKAGES: dict[str, str] = {
    "qemu-system-x86_64": "qemu-system-x86",
    "qemu-img": "qemu-utils",
    "gpgv": "gpgv",
    "depmod": "kmod",
    "xorriso": "xorriso",
    "mksquashfs": "squashfs-tools",
    "mkfs.erofs": "erofs-utils",
    "mkfs.vfat": "dosfstools",
    "mcopy": "mtools",
    "skopeo": "skopeo",
}


def require(tool: str, package: str | None = None) -> str:
    """Return the path of a host tool, or fail with how to install it."""
    path = shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin")
    if path is None:
        pkg = package or PACKAGES.get(tool, tool)
        raise DistrokitError(f"{tool} not found: apt-get install {pkg}")
    return path


Arg = str | Path


def run(
    argv: Sequence[Arg],
    *,
    input: bytes | None = None,
    capture: bool = False,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    """Run argv; on failure raise a DistrokitError quoting the command and its stderr."""
    args = [str(a) for a in argv]
    debug("+ " + " ".join(args))
    try:
        result = subprocess.run(
            args,
            input=input,
            stdout=subprocess.PIPE if capture else None,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            check=False,
        )
    except FileNotFoundError:
        require(args[0])
        raise
    if check and result.returncode != 0:
        err = result.stderr.decode(errors="replace").strip().splitlines()
        last = err[-1] if err else "no output"
        raise DistrokitError(f"{Path(args[0]).name} failed (exit {result.returncode}): {last}")
    return result
