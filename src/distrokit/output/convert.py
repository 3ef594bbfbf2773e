"""Virtual machine and cloud images made from the raw disks of disk.py:
``qcow2-bios``/``qcow2-efi`` (qemu-img), ``vhd`` (fixed, Azure and Hyper-V),
``dynamic-vhd``, ``vmdk`` and ``gcp`` (``N.img.tar.gz`` holding ``disk.raw``,
as Google Compute Engine imports it)."""

from __future__ import annotations

import gzip
import tarfile
from pathlib import Path
from typing import TYPE_CHECKING

from distrokit import proc
from distrokit.output.disk import make_disk
from distrokit.output.staging import staged

if TYPE_CHECKING:
    from distrokit.output.context import BuildInputs
    from distrokit.output.formats import Format

# Format -> qemu-img's output format and options.
_QEMU_IMG: dict[str, list[str]] = {
    "qcow2-bios": ["-O", "qcow2"],
    "qcow2-efi": ["-O", "qcow2"],
    "vhd": ["-O", "vpc", "-o", "subformat=fixed,force_size=on"],
    "dynamic-vhd": ["-O", "vpc", "-o", "subformat=dynamic,force_size=on"],
    "vmdk": ["-O", "vmdk"],
}


def write(fmt: Format, inputs: BuildInputs) -> list[Path]:
    (target,) = fmt.outputs(inputs.outdir, inputs.name)
    layout = fmt.disk_layout
    assert layout is not None
    raw = make_disk(inputs, layout)
    with staged(target.parent) as stage:
        out = stage.path(target)
        if fmt.value == "gcp":
            write_gcp(raw, out, inputs.mtime)
        else:
            proc.run([proc.require("qemu-img", "qemu-utils"), "convert", "-q", "-f", "raw",
                      *_QEMU_IMG[fmt.value], raw, out])
    return [target]


def write_gcp(raw: Path, out: Path, mtime: int) -> None:
    """GCE wants a gzipped tar with exactly one member, ``disk.raw``."""
    with out.open("wb") as f, \
            gzip.GzipFile(filename="", mode="wb", fileobj=f, compresslevel=6, mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w|", format=tarfile.GNU_FORMAT) as tar:
        info = tarfile.TarInfo("disk.raw")
        info.size, info.mode, info.mtime = raw.stat().st_size, 0o644, mtime
        with raw.open("rb") as src:
            tar.addfile(info, src)
