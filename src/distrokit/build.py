"""``distrokit build``: YAML files -> a system description -> images -> the
root filesystem -> output formats. The one place where the stages meet."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Sequence
from functools import cache as memoize
from pathlib import Path

from distrokit.assemble.rootfs import RootFS
from distrokit.config.dump import dump_yaml
from distrokit.config.load import load
from distrokit.image.cache import Cache
from distrokit.image.image import Image
from distrokit.image.reference import normalise
from distrokit.log import DistrokitError, info, step
from distrokit.output.compress import Compression
from distrokit.output.formats import Format
from distrokit.output.kernel_initrd import write_kernel_initrd
from distrokit.pkg import build as pkg
from distrokit.stream import source_date_epoch, write_tar


def default_name(source: str) -> str:
    if source == "-":
        return "distrokit"
    base = source.rstrip("/").rsplit("/", 1)[-1]
    for suffix in (".yml", ".yaml"):
        base = base.removesuffix(suffix)
    return base or "distrokit"


def image_loader(cache: Cache) -> object:
    @memoize
    def load_image(ref: str) -> Image:
        image = Image.open(cache, ref)
        if image is None:
            raise DistrokitError(
                f"image {normalise(ref)} is not in the cache {cache.root}",
                hint="build it with 'distrokit pkg build DIR' or refer to it as @pkg:DIR",
            )
        return image

    return load_image


def build_system(
    sources: Sequence[str],
    *,
    cache: Cache,
    name: str | None,
    outdir: Path,
    formats: Sequence[str] | None,
    compression: str,
    dry_run: bool = False,
) -> list[Path]:
    with step("reading the configuration"):
        system = load(sources, resolve_pkg=lambda path: pkg.build(path, cache))
    if dry_run:
        print(dump_yaml(system), end="")
        return []
    name = name or default_name(sources[0])
    chosen = [Format(f) for f in (formats or [Format.KERNEL_INITRD.value])]
    mtime = source_date_epoch()
    rootfs = RootFS(system, image_loader(cache), mtime)  # type: ignore[arg-type]
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DistrokitError(f"cannot create output directory {outdir}: {exc.strerror}") from None
    written: list[Path] = []
    for fmt in dict.fromkeys(chosen):
        with step(f"writing {fmt.value}"):
            if fmt is Format.KERNEL_INITRD:
                kernel = rootfs.kernel()
                written += write_kernel_initrd(
                    outdir, name, kernel.binary, kernel.cmdline, rootfs.entries(),
                    Compression(compression), ucode=kernel.ucode,
                )
            elif fmt is Format.TAR:
                written.append(_write_tar(outdir / f"{name}.tar", rootfs))
    for path in written:
        info(f"wrote {path}")
    return written


def _write_tar(target: Path, rootfs: RootFS) -> Path:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            write_tar(rootfs.entries(), out)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return target
