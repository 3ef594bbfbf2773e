"""What every output format is made from: one assembled system, with the
expensive intermediate products (the compressed initrd, the kernel) made
once in a private work directory and shared by all the formats of a build."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from distrokit.assemble.rootfs import Kernel, RootFS
from distrokit.log import step
from distrokit.output.compress import Compression
from distrokit.output.kernel_initrd import write_initrd
from distrokit.stream import Entry

DEFAULT_DISK_MB = 0  # 0: just big enough for the boot files, see disk.py


@dataclass
class BuildInputs:
    name: str
    outdir: Path
    work: Path  # a private temporary directory, removed after the build
    rootfs: RootFS
    compression: Compression
    mtime: int  # SOURCE_DATE_EPOCH: every timestamp in every output
    size_mb: int = DEFAULT_DISK_MB  # --size for disk formats
    output: str | None = None  # -o FILE|- for the single-file formats (tar, docker)
    _kernel: Kernel | None = field(default=None, repr=False)
    _initrd: Path | None = field(default=None, repr=False)

    def kernel(self) -> Kernel:
        if self._kernel is None:
            self._kernel = self.rootfs.kernel()
        return self._kernel

    @property
    def cmdline(self) -> str:
        return self.kernel().cmdline

    def kernel_file(self) -> Path:
        path = self.work / "kernel"
        if not path.exists():
            path.write_bytes(self.kernel().binary)
        return path

    def initrd(self) -> Path:
        """The whole system as a (microcode +) compressed cpio, spooled once."""
        if self._initrd is None:
            path = self.work / "initrd.img"
            with step(f"writing the initrd ({self.compression})"), path.open("wb") as f:
                write_initrd(f, self.rootfs.entries(), self.compression, self.kernel().ucode)
            self._initrd = path
        return self._initrd

    def entries(self) -> Iterator[Entry]:
        """The root filesystem stream, produced afresh on every call."""
        return self.rootfs.entries()

    def boot_id(self) -> str:
        """A short fingerprint of what a boot medium boots (kernel, initrd,
        command line): unique per system, the same for the same inputs. Boot
        loaders find their files by it instead of guessing device names."""
        digest = hashlib.sha256()
        for part in (self.kernel_file(), self.initrd()):
            with part.open("rb") as f:
                while chunk := f.read(1 << 20):
                    digest.update(chunk)
        digest.update(self.cmdline.encode())
        return digest.hexdigest()[:16]
