"""Reading .deb files: an ``ar`` archive holding debian-binary, control.tar.* and
data.tar.*. The data tar is streamed straight out of the .deb, never unpacked to disk."""

from __future__ import annotations

import io
import lzma
import tarfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Literal

import zstandard
from debian.deb822 import Deb822

from distrokit.log import DistrokitError
from distrokit.stream import Entry, from_tar

_AR_MAGIC = b"!<arch>\n"
_AR_HEADER = 60  # name[16] mtime[12] uid[6] gid[6] mode[8] size[10] "`\n"
_TAR_MODES: dict[str, Literal["r|", "r|xz", "r|gz", "r|bz2"]] = {
    "": "r|", ".xz": "r|xz", ".gz": "r|gz", ".bz2": "r|bz2"}


class _Slice(io.RawIOBase):
    """A read-only window of ``size`` bytes at the current position of ``f``, so a
    decompressor never reads into the next ar member."""

    def __init__(self, f: IO[bytes], size: int) -> None:
        self._f = f
        self._left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buf: memoryview) -> int:  # type: ignore[override]
        n = min(len(buf), self._left)
        if n <= 0:
            return 0
        data = self._f.read(n)
        buf[: len(data)] = data
        self._left -= len(data)
        return len(data)


def _members(f: IO[bytes], deb: Path) -> Iterator[tuple[str, int]]:
    """(name, size) of each ar member; on each yield ``f`` is at the member's data."""
    if f.read(len(_AR_MAGIC)) != _AR_MAGIC:
        raise DistrokitError(f"{deb}: not a Debian package (no ar header)")
    while True:
        header = f.read(_AR_HEADER)
        if not header:
            return
        if len(header) != _AR_HEADER or header[58:60] != b"`\n":
            raise DistrokitError(f"{deb}: truncated or corrupt ar archive")
        name = header[:16].decode("ascii", "replace").strip().rstrip("/")
        try:
            size = int(header[48:58].decode("ascii").strip())
        except ValueError:
            raise DistrokitError(f"{deb}: corrupt ar member header for {name!r}") from None
        start = f.tell()
        yield name, size
        f.seek(start + size + (size & 1))  # members are padded to an even offset


@contextmanager
def _open_tar(deb: Path, prefix: str) -> Iterator[tarfile.TarFile]:
    """The member ``prefix``.tar[.xz|.gz|.zst] of a .deb, as a streaming tarfile."""
    with open(deb, "rb") as f:
        for name, size in _members(f, deb):
            if name != prefix + ".tar" and not name.startswith(prefix + ".tar."):
                continue
            raw = io.BufferedReader(_Slice(f, size), 1 << 16)
            suffix = name[len(prefix) + len(".tar"):]
            try:
                if suffix == ".zst":
                    with zstandard.ZstdDecompressor().stream_reader(raw) as zst, \
                            tarfile.open(fileobj=zst, mode="r|") as tar:
                        yield tar
                elif suffix in _TAR_MODES:
                    with tarfile.open(fileobj=raw, mode=_TAR_MODES[suffix]) as tar:
                        yield tar
                else:
                    raise DistrokitError(f"{deb}: unsupported compression {name}")
            except (tarfile.TarError, EOFError, OSError, lzma.LZMAError, zlib.error,
                    zstandard.ZstdError) as e:
                raise DistrokitError(f"{deb}: corrupt {name}: {e}") from None
            return
    raise DistrokitError(f"{deb}: no {prefix}.tar member")


def data_entries(deb: Path) -> Iterator[Entry]:
    """The files of a .deb; each FILE entry's data is valid until the next entry."""
    with _open_tar(deb, "data") as tar:
        for entry in from_tar(tar):
            if entry.path:  # skip "./", the root directory itself
                yield entry


def control_fields(deb: Path) -> dict[str, str]:
    """The fields of the package's control file (Package, Version, Depends, ...)."""
    with _open_tar(deb, "control") as tar:
        for member in tar:
            if member.name in ("control", "./control"):
                data = tar.extractfile(member)
                if data is not None:
                    return dict(Deb822(data.read().decode("utf-8", "replace")))
    raise DistrokitError(f"{deb}: control.tar has no control file")
