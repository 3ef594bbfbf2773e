"""ISO images (xorriso): ``iso-bios`` (isolinux, hybrid so it also boots
written to a USB stick), ``iso-efi`` and ``iso-efi-initrd`` (GRUB from a small EFI
system partition, reading the kernel and initrd from the ISO 9660
filesystem). The two EFI formats are the same image today: LinuxKit's
iso-efi keeps its root on the CD, but firmware cannot load an El Torito EFI
image over 32 MB, so the initrd cannot live in the EFI partition, and the
whole-system initrd is the design that boots on any hardware.

Each boots the kernel with the whole system as its initrd: nothing at boot
needs to find the CD again (no ``root=/dev/sr0``). xorriso takes the
volume's dates and UUIDs from SOURCE_DATE_EPOCH and every file's dates from
--set_all_file_dates, which makes the images reproducible.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from distrokit import proc
from distrokit.output import boot
from distrokit.output.staging import staged
from distrokit.output.tools import ISOHYBRID_MBR, ISOLINUX_BIN, SYSLINUX_MODULES

if TYPE_CHECKING:
    from distrokit.output.context import BuildInputs
    from distrokit.output.formats import Format


def volume_label(name: str) -> str:
    """ISO 9660 volume IDs: at most 32 of A-Z, 0-9 and _."""
    return (re.sub(r"[^A-Z0-9_]", "_", name.upper())[:32]) or "DISTROKIT"


def write(fmt: Format, inputs: BuildInputs) -> list[Path]:
    from distrokit.output.formats import Format

    (target,) = fmt.outputs(inputs.outdir, inputs.name)
    tree = inputs.work / f"{fmt.value}-tree"
    if tree.exists():
        shutil.rmtree(tree)
    (tree / "boot").mkdir(parents=True)
    argv: list[str | Path] = []
    boot_id = inputs.boot_id()
    _place(inputs.kernel_file(), tree / boot.KERNEL[1:])
    _place(inputs.initrd(), tree / boot.INITRD[1:])
    (tree / boot.marker(boot_id)[1:]).write_bytes(b"")
    if fmt is Format.ISO_BIOS:
        isolinux = tree / "isolinux"
        isolinux.mkdir()
        shutil.copyfile(ISOLINUX_BIN, isolinux / "isolinux.bin")
        shutil.copyfile(SYSLINUX_MODULES / "ldlinux.c32", isolinux / "ldlinux.c32")
        (isolinux / "isolinux.cfg").write_text(boot.syslinux_config(inputs.cmdline))
        argv += ["-b", "isolinux/isolinux.bin", "-c", "isolinux/boot.cat", "-no-emul-boot",
                 "-boot-load-size", "4", "-boot-info-table", "-isohybrid-mbr", ISOHYBRID_MBR]
    else:
        esp = inputs.work / f"{fmt.value}-esp.img"
        esp.unlink(missing_ok=True)
        files = {"/EFI/BOOT/BOOTX64.EFI": boot.grub_efi(inputs.work / "BOOTX64.EFI",
                                                        inputs.work, boot_id, inputs.cmdline)}
        boot.make_fat(esp, size=boot.fat_size(files), label="EFI", volume_id=boot_id[:8],
                      files=files, mtime=inputs.mtime)
        # The ESP as an appended partition, so the ISO written to a USB stick
        # boots too; El Torito points at the same sectors.
        argv += ["-append_partition", "2", "0xef", esp,
                 "-e", "--interval:appended_partition_2:all::", "-no-emul-boot"]
    with staged(target.parent) as stage:
        out = stage.path(target)
        out.unlink()
        proc.run([proc.require("xorriso", "xorriso"), "-as", "mkisofs", "-quiet",
                  "-o", out, "-V", volume_label(inputs.name), "-R", "-J", "-joliet-long",
                  "--set_all_file_dates", f"={inputs.mtime}", *argv, tree],
                 env={**os.environ, "SOURCE_DATE_EPOCH": str(inputs.mtime)})
    shutil.rmtree(tree)
    return [target]


def _place(source: Path, dest: Path) -> None:
    """Hard-link big files into the tree (same directory tree, no copy)."""
    try:
        os.link(source, dest)
    except OSError:
        shutil.copyfile(source, dest)
