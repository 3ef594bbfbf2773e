"""Compressed writers: they round-trip, they are deterministic, and they use
the settings the kernel's decompressors need."""

from __future__ import annotations

import gzip
import io
import lzma

import pytest
import zstandard

from distrokit.output.compress import DEFAULT_INITRD, Compression

# Compressible but not trivial.
PAYLOAD = b"".join(i.to_bytes(4, "little") * (i % 7 + 1) for i in range(60_000)) + bytes(
    range(256)) * 2048


def compress(kind: Compression, data: bytes = PAYLOAD) -> bytes:
    out = io.BytesIO()
    with kind.writer(out) as w:
        for i in range(0, len(data), 100_000):
            w.write(data[i:i + 100_000])
    assert not out.closed  # the caller's file stays open
    return out.getvalue()


def decompress(kind: Compression, blob: bytes) -> bytes:
    if kind is Compression.GZIP:
        return gzip.decompress(blob)
    if kind is Compression.ZSTD:
        return zstandard.ZstdDecompressor().decompressobj().decompress(blob)
    if kind is Compression.XZ:
        return lzma.decompress(blob)
    return blob


@pytest.mark.parametrize("kind", list(Compression))
def test_round_trip_and_deterministic(kind: Compression) -> None:
    blob = compress(kind)
    assert decompress(kind, blob) == PAYLOAD
    assert compress(kind) == blob
    if kind is not Compression.NONE:
        assert len(blob) < len(PAYLOAD)


def test_gzip_has_no_name_and_no_time() -> None:
    blob = compress(Compression.GZIP)
    flags, mtime = blob[3], int.from_bytes(blob[4:8], "little")
    assert flags & 0x08 == 0 and mtime == 0  # no FNAME, no MTIME


def test_xz_uses_crc32() -> None:
    blob = compress(Compression.XZ)
    assert blob[:6] == b"\xfd7zXZ\x00"
    assert blob[7] == 0x01  # stream flags: check type 1 = CRC32 (the kernel has no CRC64)


def test_zstd_output_does_not_depend_on_the_chunking() -> None:
    out = io.BytesIO()
    with Compression.ZSTD.writer(out) as w:
        for i in range(0, len(PAYLOAD), 4096):
            w.write(PAYLOAD[i:i + 4096])
    assert out.getvalue() == compress(Compression.ZSTD)


def test_a_failed_stream_leaves_the_file_open() -> None:
    out = io.BytesIO()
    with pytest.raises(RuntimeError), Compression.ZSTD.writer(out) as w:
        w.write(b"partial")
        raise RuntimeError("boom")
    assert not out.closed


def test_default() -> None:
    assert DEFAULT_INITRD is Compression.ZSTD
    assert Compression("gzip") is Compression.GZIP
