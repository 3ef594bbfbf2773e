"""Output formats: what ``distrokit build --format`` can write."""

from __future__ import annotations

import enum
from pathlib import Path


class Format(enum.StrEnum):
    KERNEL_INITRD = "kernel+initrd"
    TAR = "tar"

    def outputs(self, outdir: Path, name: str) -> list[Path]:
        """The files this format writes for a system called name."""
        if self is Format.KERNEL_INITRD:
            return [outdir / f"{name}-{part}" for part in ("kernel", "initrd.img", "cmdline")]
        return [outdir / f"{name}.tar"]
