"""The formats that are files or tars of files: ``kernel+initrd``,
``tar-kernel-initrd`` (boot/kernel, boot/initrd.img, boot/cmdline in one tar),
``tar`` and ``docker`` (the root filesystem as a tar; ``docker import`` and
``distrokit cache import`` take it as it is)."""

from __future__ import annotations

import shutil
import sys
import tarfile
from pathlib import Path
from typing import TYPE_CHECKING

from distrokit.output.staging import staged
from distrokit.stream import write_tar

if TYPE_CHECKING:
    from distrokit.output.context import BuildInputs
    from distrokit.output.formats import Format


def write(fmt: Format, inputs: BuildInputs) -> list[Path]:
    from distrokit.output.formats import Format

    if fmt is Format.KERNEL_INITRD:
        return write_kernel_initrd(inputs, fmt.outputs(inputs.outdir, inputs.name))
    if fmt is Format.TAR_KERNEL_INITRD:
        return write_tar_kernel_initrd(inputs, fmt.outputs(inputs.outdir, inputs.name)[0])
    return write_rootfs_tar(inputs, fmt.outputs(inputs.outdir, inputs.name)[0])


def write_kernel_initrd(inputs: BuildInputs, paths: list[Path]) -> list[Path]:
    kernel, initrd, cmdline = paths
    with staged(inputs.outdir) as stage:
        shutil.copyfile(inputs.kernel_file(), stage.path(kernel))
        shutil.copyfile(inputs.initrd(), stage.path(initrd))
        stage.path(cmdline).write_text(inputs.cmdline)
    return paths


def write_tar_kernel_initrd(inputs: BuildInputs, target: Path) -> list[Path]:
    members = [("boot/kernel", inputs.kernel_file()), ("boot/initrd.img", inputs.initrd())]
    cmdline = inputs.work / "cmdline"
    cmdline.write_text(inputs.cmdline)
    members.append(("boot/cmdline", cmdline))
    with staged(inputs.outdir) as stage, stage.open(target) as out, \
            tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        boot = tarfile.TarInfo("boot")
        boot.type, boot.mode, boot.mtime = tarfile.DIRTYPE, 0o755, inputs.mtime
        tar.addfile(boot)
        for name, path in members:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = path.stat().st_size, 0o644, inputs.mtime
            with path.open("rb") as f:
                tar.addfile(info, f)
    return [target]


def write_rootfs_tar(inputs: BuildInputs, default: Path) -> list[Path]:
    """The root filesystem as a tar: to ``-o FILE``, ``-o -`` (standard output,
    streamed as it is made) or the format's default file."""
    if inputs.output == "-":
        write_tar(inputs.entries(), sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return []
    target = Path(inputs.output) if inputs.output else default
    with staged(target.parent) as stage, stage.open(target) as out:
        write_tar(inputs.entries(), out)
    return [target]
