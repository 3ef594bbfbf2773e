"""Writing several formats from one assembled system: tools checked first,
shared intermediate files in one private work directory next to the
outputs (same filesystem: big files are hard-linked, not copied)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from distrokit.assemble.rootfs import RootFS
from distrokit.log import DistrokitError, step
from distrokit.output import tools
from distrokit.output.compress import Compression
from distrokit.output.context import BuildInputs
from distrokit.output.formats import Format


def parse_formats(names: Sequence[str] | None) -> list[Format]:
    """The chosen formats in order, each once (default kernel+initrd)."""
    chosen: list[Format] = []
    for name in names or [Format.KERNEL_INITRD.value]:
        try:
            chosen.append(Format(name))
        except ValueError:
            known = ", ".join(f.value for f in Format)
            raise DistrokitError(f"unknown format {name!r}", f"known: {known}") from None
    return list(dict.fromkeys(chosen))


def check_formats(formats: Sequence[Format], output: str | None = None) -> None:
    """Everything that can be known before the build starts: tools and options."""
    if output is not None and (len(formats) != 1 or not formats[0].single_file):
        raise DistrokitError("-o works with exactly one format, tar or docker")
    tools.check([need for fmt in formats for need in fmt.needs()])


def write_formats(
    rootfs: RootFS, *, name: str, outdir: Path, formats: Sequence[Format],
    compression: Compression, mtime: int, size_mb: int = 0, output: str | None = None,
) -> list[Path]:
    check_formats(formats, output)
    try:
        outdir.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".distrokit-work-", dir=outdir))
    except OSError as exc:
        raise DistrokitError(f"cannot write into {outdir}: {exc.strerror}") from None
    inputs = BuildInputs(name=name, outdir=outdir, work=work, rootfs=rootfs,
                         compression=compression, mtime=mtime, size_mb=size_mb, output=output)
    written: list[Path] = []
    try:
        for fmt in formats:
            with step(f"writing {fmt.value}"):
                try:
                    written += fmt.write(inputs)
                except BrokenPipeError:
                    raise  # the reader of -o - went away: the CLI ends quietly
                except OSError as exc:
                    raise DistrokitError(f"writing {fmt.value} failed: {exc}") from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return list(dict.fromkeys(written))  # kernel and cmdline are shared by formats
