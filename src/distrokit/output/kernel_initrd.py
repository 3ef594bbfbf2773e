"""The kernel+initrd output: ``N-kernel``, ``N-initrd.img`` and ``N-cmdline``
side by side, as LinuxKit writes them (the cmdline file holds the command line
exactly, without a trailing newline).

All three are written to hidden temporary files in the output directory and
renamed into place only once everything succeeded, so a failed or interrupted
build never leaves a half-written or mismatched set behind.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from distrokit.log import DistrokitError, step
from distrokit.output.compress import Compression
from distrokit.output.cpio import write_cpio
from distrokit.output.staging import Staging
from distrokit.stream import Entry


def kernel_initrd_paths(outdir: Path, name: str) -> tuple[Path, Path, Path]:
    """Where the kernel, the initrd and the cmdline of output ``name`` go."""
    return (outdir / f"{name}-kernel", outdir / f"{name}-initrd.img",
            outdir / f"{name}-cmdline")


_Staging = Staging  # the old name, kept for callers


def write_initrd(out: IO[bytes], entries: Iterable[Entry], compression: Compression,
                 ucode: bytes | None = None) -> None:
    """The stream as a compressed newc cpio; a microcode cpio, when given, goes
    uncompressed in front of it (the kernel's early loader only looks there)."""
    if ucode:
        out.write(ucode)
    with compression.writer(out) as sink:
        write_cpio(entries, sink)


def write_kernel_initrd(
    outdir: Path,
    name: str,
    kernel: bytes | Path,
    cmdline: str,
    entries: Iterable[Entry],
    compression: Compression,
    ucode: bytes | None = None,
) -> list[Path]:
    """Write ``name``-kernel, -initrd.img and -cmdline into ``outdir``.

    The initrd is the stream as a newc cpio, compressed; a microcode cpio, when
    given, goes uncompressed in front of it (the kernel's early loader only
    looks there).
    """
    kernel_path, initrd_path, cmdline_path = kernel_initrd_paths(outdir, name)
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DistrokitError(f"cannot create output directory {outdir}: {e.strerror}") from e
    staging = Staging(outdir)
    try:
        # The kernel first: a missing kernel fails before the long part.
        with staging.open(kernel_path) as f:
            if isinstance(kernel, Path):
                try:
                    with kernel.open("rb") as src:
                        shutil.copyfileobj(src, f)
                except OSError as e:
                    raise DistrokitError(f"cannot read kernel {kernel}: {e.strerror}") from e
            else:
                f.write(kernel)
        with staging.open(cmdline_path) as f:
            f.write(cmdline.encode())
        with step(f"writing {initrd_path.name} ({compression})"), \
                staging.open(initrd_path) as f:
            write_initrd(f, entries, compression, ucode)
        staging.commit()
    except OSError as e:
        staging.discard()
        raise DistrokitError(f"writing {name} kernel+initrd into {outdir} failed: {e}") from e
    except BaseException:
        staging.discard()
        raise
    return [kernel_path, initrd_path, cmdline_path]
