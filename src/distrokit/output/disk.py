"""Partitioned disk images: ``raw-bios`` (and ``aws``, the same disk as
``N.raw``) and ``raw-efi``; convert.py turns them into qcow2, VHD, VMDK and
GCP images.

- bios: an MBR partition table with one active FAT partition of type 0xEF,
  syslinux in its boot sector and syslinux's MBR code, plus GRUB as
  EFI/BOOT/BOOTX64.EFI: the same disk boots under BIOS and UEFI.
- efi: a GPT with one EFI system partition holding GRUB as
  EFI/BOOT/BOOTX64.EFI (the removable-media path firmware looks for).

The partition holds the kernel and the whole system as its initrd, so no
root device is named at boot. Disk and partition IDs are derived from the
system's boot fingerprint, and mkfs.vfat, mtools and syslinux run with fixed
IDs and SOURCE_DATE_EPOCH: the images are reproducible.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from distrokit import proc
from distrokit.log import DistrokitError, step
from distrokit.output import boot
from distrokit.output.staging import staged
from distrokit.output.tools import SYSLINUX_MBR

if TYPE_CHECKING:
    from distrokit.output.context import BuildInputs
    from distrokit.output.formats import Format

MIB = 1 << 20
START = MIB  # the first partition starts at 1 MiB, as partitioning tools align it
ESP_TYPE = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
SYSLINUX_DIR = "/boot/syslinux"


def write(fmt: Format, inputs: BuildInputs) -> list[Path]:
    (target,) = fmt.outputs(inputs.outdir, inputs.name)
    layout = fmt.disk_layout
    assert layout is not None
    source = make_disk(inputs, layout)
    with staged(target.parent) as stage:
        shutil.copyfile(source, stage.path(target))
    return [target]


def make_disk(inputs: BuildInputs, layout: str) -> Path:
    """The raw disk for a layout, made once per build in the work directory."""
    image = inputs.work / f"disk-{layout}.img"
    if image.exists():
        return image
    boot_id = inputs.boot_id()
    marker = inputs.work / "marker"
    marker.write_bytes(b"")
    files = {
        "/EFI/BOOT/BOOTX64.EFI": boot.grub_efi(inputs.work / "BOOTX64.EFI", inputs.work,
                                               boot_id, inputs.cmdline),
        boot.KERNEL: inputs.kernel_file(),
        boot.INITRD: inputs.initrd(),
        boot.marker(boot_id): marker,
    }
    if layout == "bios":
        cfg = inputs.work / "syslinux.cfg"
        cfg.write_text(boot.syslinux_config(inputs.cmdline))
        files[f"{SYSLINUX_DIR}/syslinux.cfg"] = cfg
    needed = START + boot.fat_size(files) + MIB  # + the backup GPT at the end
    size = inputs.size_mb * MIB if inputs.size_mb else needed
    if size < needed:
        raise DistrokitError(f"--size {inputs.size_mb}M is too small for {inputs.name}: "
                             f"its boot files need at least {-(-needed // MIB)}M")
    fat_bytes = (size - START - MIB) // MIB * MIB
    partial = image.with_suffix(".partial")
    with step(f"writing the {layout} disk ({size // MIB} MiB)"):
        with partial.open("wb") as f:
            f.truncate(size)
        partition(partial, layout, boot_id, fat_bytes)
        boot.make_fat(partial, size=fat_bytes, offset=START, label="DISTROKIT",
                      volume_id=boot_id[:8], files=files, mtime=inputs.mtime)
        if layout == "bios":
            install_syslinux(partial, inputs.mtime)
    os.replace(partial, image)
    return image


def partition(image: Path, layout: str, boot_id: str, fat_bytes: int) -> None:
    sectors = fat_bytes // 512
    if layout == "bios":
        script = (f"label: dos\nlabel-id: 0x{boot_id[8:16]}\nunit: sectors\n\n"
                  f"start={START // 512}, size={sectors}, type=ef, bootable\n")
    else:
        disk_uuid = uuid.uuid5(uuid.NAMESPACE_URL, f"distrokit-disk:{boot_id}")
        part_uuid = uuid.uuid5(uuid.NAMESPACE_URL, f"distrokit-esp:{boot_id}")
        script = (f"label: gpt\nlabel-id: {disk_uuid}\nunit: sectors\n\n"
                  f"start={START // 512}, size={sectors}, type={ESP_TYPE}, "
                  f"uuid={part_uuid}, name=\"EFI system partition\"\n")
    proc.run([proc.require("sfdisk", "fdisk"), "--no-reread", "--no-tell-kernel", "--quiet",
              "--wipe", "never", image], input=script.encode())


def install_syslinux(image: Path, mtime: int) -> None:
    """syslinux's boot sector and ldlinux.sys into the FAT, its MBR code
    into the disk's first 440 bytes (the partition table stays)."""
    env = {**os.environ, "MTOOLS_SKIP_CHECK": "1",
           "SOURCE_DATE_EPOCH": str(max(mtime, boot.FAT_EPOCH))}
    proc.run([proc.require("syslinux", "syslinux"), "--install", "--offset", str(START),
              "--directory", SYSLINUX_DIR, image], env=env)
    mbr = SYSLINUX_MBR.read_bytes()[:440]
    with image.open("r+b") as f:
        f.write(mbr)
