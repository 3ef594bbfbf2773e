"""A filesystem stream: the plain value that flows from image layers through
assembly into output formats.

A stream is an iterable of :class:`Entry`. A regular file's ``data`` is a
readable file object that is valid only until the consumer asks for the next
entry (so layers can be streamed straight out of a compressed tar without
touching the disk). Paths are relative, without a leading ``/`` or ``./``.
"""

from __future__ import annotations

import enum
import io
import os
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import IO

from distrokit.log import DistrokitError


class Kind(enum.Enum):
    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"
    HARDLINK = "hardlink"  # linkname is another path in the same stream
    CHAR = "char"
    BLOCK = "block"
    FIFO = "fifo"


@dataclass(frozen=True)
class Entry:
    path: str
    kind: Kind
    mode: int = 0o644  # permission bits, including setuid/setgid/sticky
    uid: int = 0
    gid: int = 0
    mtime: int = 0
    size: int = 0
    linkname: str = ""
    devmajor: int = 0
    devminor: int = 0
    data: IO[bytes] | None = None
    xattrs: tuple[tuple[str, bytes], ...] = ()

    def moved(self, prefix: str) -> Entry:
        """The same entry under another directory (hard link targets move too)."""
        path = join(prefix, self.path)
        linkname = join(prefix, self.linkname) if self.kind is Kind.HARDLINK else self.linkname
        return replace(self, path=path, linkname=linkname)


def source_date_epoch() -> int:
    """The fixed mtime of everything distrokit writes: SOURCE_DATE_EPOCH, else 0."""
    value = os.environ.get("SOURCE_DATE_EPOCH", "0") or "0"
    # cpio (newc) headers hold 32-bit times.
    if not value.isdigit() or int(value) > 0xFFFFFFFF:
        raise DistrokitError(
            f"SOURCE_DATE_EPOCH must be a number of seconds up to 4294967295, not {value!r}")
    return int(value)


def clean(path: str) -> str:
    """Normalise a stream path: no leading '/', './' or trailing '/'."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    return "/".join(parts)


def join(prefix: str, path: str) -> str:
    prefix, path = clean(prefix), clean(path)
    if not prefix:
        return path
    return f"{prefix}/{path}" if path else prefix


def directory(path: str, mode: int = 0o755, mtime: int = 0) -> Entry:
    return Entry(clean(path), Kind.DIR, mode=mode, mtime=mtime)


def file(path: str, content: bytes, mode: int = 0o644, mtime: int = 0,
         uid: int = 0, gid: int = 0) -> Entry:
    return Entry(clean(path), Kind.FILE, mode=mode, mtime=mtime, uid=uid, gid=gid,
                 size=len(content), data=io.BytesIO(content))


def symlink(path: str, target: str, mtime: int = 0) -> Entry:
    return Entry(clean(path), Kind.SYMLINK, mode=0o777, mtime=mtime, linkname=target)


_TAR_KINDS = {
    tarfile.REGTYPE: Kind.FILE,
    tarfile.AREGTYPE: Kind.FILE,
    tarfile.CONTTYPE: Kind.FILE,
    tarfile.DIRTYPE: Kind.DIR,
    tarfile.SYMTYPE: Kind.SYMLINK,
    tarfile.LNKTYPE: Kind.HARDLINK,
    tarfile.CHRTYPE: Kind.CHAR,
    tarfile.BLKTYPE: Kind.BLOCK,
    tarfile.FIFOTYPE: Kind.FIFO,
}


def from_tar(tar: tarfile.TarFile) -> Iterator[Entry]:
    """Entries of a tar opened in streaming mode ('r|*'), in archive order."""
    for member in tar:
        kind = _TAR_KINDS.get(member.type)
        if kind is None:
            continue  # pax/gnu metadata members are consumed by tarfile itself
        xattrs = tuple(
            (k[len("SCHILY.xattr."):], v.encode("utf-8", "surrogateescape"))
            for k, v in sorted(member.pax_headers.items())
            if k.startswith("SCHILY.xattr.")
        )
        yield Entry(
            path=clean(member.name),
            kind=kind,
            mode=member.mode & 0o7777,
            uid=member.uid,
            gid=member.gid,
            mtime=int(member.mtime),
            size=member.size if kind is Kind.FILE else 0,
            linkname=clean(member.linkname) if kind is Kind.HARDLINK else member.linkname,
            devmajor=member.devmajor,
            devminor=member.devminor,
            data=tar.extractfile(member) if kind is Kind.FILE else None,
            xattrs=xattrs,
        )


def to_tarinfo(entry: Entry) -> tarfile.TarInfo:
    info = tarfile.TarInfo(entry.path)
    info.mode = entry.mode
    info.uid, info.gid = entry.uid, entry.gid
    info.uname = info.gname = ""
    info.mtime = entry.mtime
    info.size = entry.size if entry.kind is Kind.FILE else 0
    info.type = {v: k for k, v in _TAR_KINDS.items() if k != tarfile.AREGTYPE
                 and k != tarfile.CONTTYPE}[entry.kind]
    info.linkname = entry.linkname
    info.devmajor, info.devminor = entry.devmajor, entry.devminor
    if entry.xattrs:
        info.pax_headers = {f"SCHILY.xattr.{k}": v.decode("utf-8", "surrogateescape")
                            for k, v in entry.xattrs}
    return info


def write_tar(entries: Iterable[Entry], out: IO[bytes]) -> None:
    """Write a stream as a PAX tar (deterministic: no user/group names)."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            tar.addfile(to_tarinfo(entry), entry.data if entry.kind is Kind.FILE else None)
