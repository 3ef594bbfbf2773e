"""Output formats: what ``distrokit build --format`` can write. The Format
enum is the one list of formats; each member knows its files, the host tools
it needs, the firmware it boots with, and which module writes it."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import TYPE_CHECKING

from distrokit.output import tools

if TYPE_CHECKING:
    from distrokit.output.context import BuildInputs

# Format -> the names of its files, "{n}" standing for the system's name.
_FILES: dict[str, tuple[str, ...]] = {
    "kernel+initrd": ("{n}-kernel", "{n}-initrd.img", "{n}-cmdline"),
    "tar-kernel-initrd": ("{n}-initrd.tar",),
    "tar": ("{n}.tar",),
    "docker": ("{n}-docker.tar",),
    "kernel+squashfs": ("{n}-kernel", "{n}-squashfs.img", "{n}-squashfs-initrd.img",
                        "{n}-cmdline"),
    "kernel+erofs": ("{n}-kernel", "{n}-erofs.img", "{n}-erofs-initrd.img", "{n}-cmdline"),
    "iso-bios": ("{n}.iso",),
    "iso-efi": ("{n}-efi.iso",),
    "iso-efi-initrd": ("{n}-efi-initrd.iso",),
    "raw-bios": ("{n}-bios.img",),
    "raw-efi": ("{n}-efi.img",),
    "qcow2-bios": ("{n}.qcow2",),
    "qcow2-efi": ("{n}-efi.qcow2",),
    "vhd": ("{n}.vhd",),
    "dynamic-vhd": ("{n}-dynamic.vhd",),
    "vmdk": ("{n}.vmdk",),
    "gcp": ("{n}.img.tar.gz",),
    "aws": ("{n}.raw",),
}


class Format(enum.StrEnum):
    KERNEL_INITRD = "kernel+initrd"
    TAR_KERNEL_INITRD = "tar-kernel-initrd"
    TAR = "tar"
    DOCKER = "docker"
    KERNEL_SQUASHFS = "kernel+squashfs"
    KERNEL_EROFS = "kernel+erofs"
    ISO_BIOS = "iso-bios"
    ISO_EFI = "iso-efi"
    ISO_EFI_INITRD = "iso-efi-initrd"
    RAW_BIOS = "raw-bios"
    RAW_EFI = "raw-efi"
    QCOW2_BIOS = "qcow2-bios"
    QCOW2_EFI = "qcow2-efi"
    VHD = "vhd"
    DYNAMIC_VHD = "dynamic-vhd"
    VMDK = "vmdk"
    GCP = "gcp"
    AWS = "aws"

    def outputs(self, outdir: Path, name: str) -> list[Path]:
        """The files this format writes for a system called name."""
        return [outdir / f.format(n=name) for f in _FILES[self.value]]

    @property
    def single_file(self) -> bool:
        """Formats that ``-o FILE|-`` can redirect (one stream, no seeking)."""
        return self in (Format.TAR, Format.DOCKER)

    @property
    def disk_layout(self) -> str | None:
        """``bios`` or ``efi`` for the formats made from a partitioned disk."""
        if self in (Format.RAW_EFI, Format.QCOW2_EFI):
            return "efi"
        if self in (Format.RAW_BIOS, Format.QCOW2_BIOS, Format.VHD, Format.DYNAMIC_VHD,
                    Format.VMDK, Format.GCP, Format.AWS):
            return "bios"
        return None

    @property
    def firmware(self) -> tuple[str, ...]:
        """What the output boots with: ``bios`` (SeaBIOS), ``uefi`` (OVMF)."""
        if self in (Format.ISO_EFI, Format.ISO_EFI_INITRD) or self.disk_layout == "efi":
            return ("uefi",)
        if self is Format.ISO_BIOS:
            return ("bios",)
        if self.disk_layout == "bios":  # the BIOS disk also carries an EFI loader
            return ("bios", "uefi")
        if self in (Format.TAR, Format.DOCKER, Format.TAR_KERNEL_INITRD):
            return ()
        return ("bios", "uefi")  # QEMU loads the kernel itself

    def needs(self) -> list[tools.Need]:
        """Host tools and files, as (tool or path, Debian package)."""
        if self is Format.KERNEL_SQUASHFS:
            return tools.SQUASHFS
        if self is Format.KERNEL_EROFS:
            return tools.EROFS
        if self is Format.ISO_BIOS:
            return [*tools.XORRISO, *tools.ISOLINUX]
        if self in (Format.ISO_EFI, Format.ISO_EFI_INITRD):
            return [*tools.XORRISO, *tools.GRUB_EFI]
        layout = self.disk_layout
        if layout is None:
            return []
        needs = [*tools.SFDISK, *tools.GRUB_EFI]
        if layout == "bios":
            needs += tools.SYSLINUX
        if self not in (Format.RAW_BIOS, Format.RAW_EFI, Format.AWS, Format.GCP):
            needs += tools.QEMU_IMG
        return needs

    def write(self, inputs: BuildInputs) -> list[Path]:
        """Write this format's files; returns them."""
        from distrokit.output import archive, convert, disk, iso, squashfs

        if self in (Format.KERNEL_INITRD, Format.TAR_KERNEL_INITRD, Format.TAR, Format.DOCKER):
            return archive.write(self, inputs)
        if self in (Format.KERNEL_SQUASHFS, Format.KERNEL_EROFS):
            return squashfs.write(self, inputs)
        if self in (Format.ISO_BIOS, Format.ISO_EFI, Format.ISO_EFI_INITRD):
            return iso.write(self, inputs)
        if self in (Format.RAW_BIOS, Format.RAW_EFI, Format.AWS):
            return disk.write(self, inputs)
        return convert.write(self, inputs)
