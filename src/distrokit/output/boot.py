"""Boot loader pieces shared by ISOs and disks: a GRUB EFI binary with its
configuration built in, syslinux/isolinux configurations, and FAT
filesystems filled with mtools (no loop devices, no root needed).

Every boot medium boots the kernel with the whole system as its initrd, so
no loader needs to name a root device. GRUB finds its files by a marker file
named after the system's boot fingerprint (``/boot/distrokit-ID``), never by
a device name or a volume label that another disk could share."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from distrokit import proc
from distrokit.output.tools import GRUB_EFI_MODULES

KERNEL = "/boot/kernel"
INITRD = "/boot/initrd.img"
FAT_EPOCH = 315532800  # 1980-01-01: FAT cannot record earlier dates
GRUB_MODULES = ("part_gpt", "part_msdos", "fat", "iso9660", "search", "search_fs_file",
                "linux", "normal", "boot", "echo", "test", "serial", "terminal")


def marker(boot_id: str) -> str:
    return f"/boot/distrokit-{boot_id}"


def grub_config(boot_id: str, cmdline: str) -> str:
    # No menu, no timeout: the one entry boots at once.
    return (f"search --no-floppy --set=root --file {marker(boot_id)}\n"
            f"linux {KERNEL} {cmdline}\n"
            f"initrd {INITRD}\n"
            "boot\n")


def grub_efi(dest: Path, work: Path, boot_id: str, cmdline: str) -> Path:
    """BOOTX64.EFI: GRUB with its configuration embedded (grub-mkimage's
    output is byte-for-byte reproducible; grub-mkstandalone's memdisk is not)."""
    config = work / "grub-early.cfg"
    config.write_text(grub_config(boot_id, cmdline))
    proc.run([proc.require("grub-mkimage", "grub-common"), "-O", "x86_64-efi",
              "-d", GRUB_EFI_MODULES, "-o", dest, "-p", "/boot/grub", "-c", config,
              *GRUB_MODULES])
    return dest


def syslinux_config(cmdline: str) -> str:
    """For isolinux and syslinux alike: boot at once, no prompt."""
    return ("DEFAULT distrokit\nPROMPT 0\nTIMEOUT 0\n"
            f"LABEL distrokit\n  KERNEL {KERNEL}\n  INITRD {INITRD}\n  APPEND {cmdline}\n")


def make_fat(image: Path, *, size: int, label: str, volume_id: str,
             files: Mapping[str, Path], mtime: int, offset: int = 0) -> None:
    """A FAT filesystem of ``size`` bytes at byte ``offset`` of ``image``
    (created when missing), holding ``files`` (path in FAT -> host file).
    mkfs.vfat --invariant and mtools under SOURCE_DATE_EPOCH make it
    reproducible."""
    if not image.exists():
        with image.open("wb") as f:
            f.truncate(offset + size)
    fat32 = size >= 512 << 20  # FAT16 is smaller and simpler below that
    proc.run([proc.require("mkfs.vfat", "dosfstools"), "--invariant", "-i", volume_id,
              "-n", label[:11].upper(), "-F", "32" if fat32 else "16",
              f"--offset={offset // 512}", image, str(size // 1024)], capture=True)
    env = {**os.environ, "MTOOLS_SKIP_CHECK": "1", "SOURCE_DATE_EPOCH": str(max(mtime, FAT_EPOCH))}
    target = f"{image}@@{offset}"
    dirs = sorted({str(Path(p).parent) for p in files} - {"/"}, key=len)
    made: set[str] = set()
    for d in dirs:
        parts = Path(d).parts[1:]
        for i in range(1, len(parts) + 1):
            sub = "/" + "/".join(parts[:i])
            if sub not in made:
                proc.run([proc.require("mmd", "mtools"), "-i", target, f"::{sub}"], env=env)
                made.add(sub)
    for path, source in files.items():
        proc.run([proc.require("mcopy", "mtools"), "-i", target, source, f"::{path}"], env=env)


def fat_size(files: Mapping[str, Path], minimum: int = 0) -> int:
    """Enough bytes for the files plus FAT overhead, in whole MiB."""
    total = sum(p.stat().st_size for p in files.values())
    size = int(total * 1.05) + (8 << 20)
    size = max(size, minimum)
    return -(-size // (1 << 20)) * (1 << 20)
