"""kernel+initrd output: three files, written atomically."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
import zstandard

from distrokit.log import DistrokitError
from distrokit.output.compress import Compression
from distrokit.output.cpio import write_cpio
from distrokit.output.kernel_initrd import write_kernel_initrd
from distrokit.stream import Entry, file, symlink


def rootfs() -> list[Entry]:
    return [file("init", b"#!/bin/sh\necho hi\n", mode=0o755), symlink("bin/sh", "busybox")]


def cpio_of(entries: list[Entry]) -> bytes:
    out = io.BytesIO()
    write_cpio(entries, out)
    return out.getvalue()


def test_writes_three_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    paths = write_kernel_initrd(out, "box", b"KERNEL", "console=ttyS0 quiet", rootfs(),
                                Compression.ZSTD)
    assert [p.name for p in paths] == ["box-kernel", "box-initrd.img", "box-cmdline"]
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in paths)
    kernel, initrd, cmdline = paths
    assert kernel.read_bytes() == b"KERNEL"
    assert cmdline.read_text() == "console=ttyS0 quiet"  # as LinuxKit: no newline
    unpacked = zstandard.ZstdDecompressor().decompressobj().decompress(initrd.read_bytes())
    assert unpacked == cpio_of(rootfs())
    assert kernel.stat().st_mode & 0o777 == 0o644


def test_kernel_from_a_path_and_ucode_in_front(tmp_path: Path) -> None:
    vmlinuz = tmp_path / "vmlinuz"
    vmlinuz.write_bytes(b"bzImage" * 1000)
    ucode = cpio_of([file("kernel/x86/microcode/GenuineIntel.bin", b"\x01" * 100)])
    _, initrd, _ = write_kernel_initrd(tmp_path, "n", vmlinuz, "", rootfs(), Compression.NONE,
                                       ucode=ucode)
    assert (tmp_path / "n-kernel").read_bytes() == vmlinuz.read_bytes()
    assert initrd.read_bytes() == ucode + cpio_of(rootfs())


def test_identical_inputs_give_identical_outputs(tmp_path: Path) -> None:
    for d in ("a", "b"):
        write_kernel_initrd(tmp_path / d, "n", b"K", "x", rootfs(), Compression.GZIP)
    assert (tmp_path / "a/n-initrd.img").read_bytes() == (tmp_path / "b/n-initrd.img").read_bytes()


def failing_stream() -> Iterator[Entry]:
    yield from rootfs()
    raise DistrokitError("layer is corrupt")


@pytest.mark.parametrize("compression", [Compression.ZSTD, Compression.GZIP])
def test_a_failure_leaves_nothing_behind(tmp_path: Path, compression: Compression) -> None:
    with pytest.raises(DistrokitError, match="corrupt"):
        write_kernel_initrd(tmp_path, "n", b"K", "x", failing_stream(), compression)
    assert list(tmp_path.iterdir()) == []


def test_a_failure_keeps_the_previous_output(tmp_path: Path) -> None:
    write_kernel_initrd(tmp_path, "n", b"OLD", "old", rootfs(), Compression.GZIP)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def interrupted() -> Iterator[Entry]:
        yield from rootfs()
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_kernel_initrd(tmp_path, "n", b"NEW", "new", interrupted(), Compression.GZIP)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_missing_kernel_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DistrokitError, match="cannot read kernel"):
        write_kernel_initrd(tmp_path, "n", tmp_path / "nope", "", rootfs(), Compression.GZIP)
    assert list(tmp_path.iterdir()) == []
