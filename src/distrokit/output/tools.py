"""The host tools and boot loader files each format needs, checked before any
work starts so a missing one costs nothing but one line naming the package."""

from __future__ import annotations

from pathlib import Path

from distrokit import proc
from distrokit.log import DistrokitError

# Boot loader files from Debian packages (paths as Debian 12 installs them).
ISOLINUX_BIN = Path("/usr/lib/ISOLINUX/isolinux.bin")
ISOHYBRID_MBR = Path("/usr/lib/ISOLINUX/isohdpfx.bin")
SYSLINUX_MODULES = Path("/usr/lib/syslinux/modules/bios")
SYSLINUX_MBR = Path("/usr/lib/syslinux/mbr/mbr.bin")
GRUB_EFI_MODULES = Path("/usr/lib/grub/x86_64-efi")

Need = tuple[str, str]  # (tool name or absolute file path, Debian package)

SQUASHFS: list[Need] = [("mksquashfs", "squashfs-tools")]
EROFS: list[Need] = [("mkfs.erofs", "erofs-utils")]
FAT: list[Need] = [("mkfs.vfat", "dosfstools"), ("mcopy", "mtools"), ("mmd", "mtools")]
GRUB_EFI: list[Need] = [("grub-mkimage", "grub-common"),
                        (str(GRUB_EFI_MODULES / "linux.mod"), "grub-efi-amd64-bin"), *FAT]
ISOLINUX: list[Need] = [(str(ISOLINUX_BIN), "isolinux"), (str(ISOHYBRID_MBR), "isolinux"),
                        (str(SYSLINUX_MODULES / "ldlinux.c32"), "syslinux-common")]
SYSLINUX: list[Need] = [("syslinux", "syslinux"), (str(SYSLINUX_MBR), "syslinux-common")]
XORRISO: list[Need] = [("xorriso", "xorriso")]
SFDISK: list[Need] = [("sfdisk", "fdisk")]
QEMU_IMG: list[Need] = [("qemu-img", "qemu-utils")]


def check(needs: list[Need]) -> None:
    """Fail on the first missing tool or file, naming its package."""
    for what, package in dict.fromkeys(needs):
        if what.startswith("/"):
            if not Path(what).is_file():
                raise DistrokitError(f"{what} not found: apt-get install {package}")
        else:
            proc.require(what, package)
