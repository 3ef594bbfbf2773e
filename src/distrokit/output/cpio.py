"""A streaming writer for the SVR4 "newc" cpio format, the format of a Linux
initramfs.

The rules follow what the kernel's unpacker (init/initramfs.c) needs:

- a directory must be unpacked before anything inside it, so missing parents
  are synthesised (mode 0755, root-owned);
- inode numbers come from a counter and every file has nlink 1, so the output
  is deterministic and the kernel never tries to hard-link (it only links a
  later copy when the first one had nlink >= 2, which a streaming writer
  cannot know in advance); hard links therefore become relative symlinks, as
  LinuxKit does;
- a path may appear more than once: the kernel unpacks in order, so for
  regular files and directories the later entry wins.

Extended attributes cannot be carried by newc and are dropped.
"""

from __future__ import annotations

import posixpath
import stat
from collections.abc import Iterable
from typing import Protocol

from distrokit.log import DistrokitError
from distrokit.stream import Entry, Kind

MAGIC = b"070701"
TRAILER = "TRAILER!!!"
_CHUNK = 1 << 20
_FLUSH_AT = 1 << 20

_TYPE_BITS = {
    Kind.FILE: stat.S_IFREG,
    Kind.DIR: stat.S_IFDIR,
    Kind.SYMLINK: stat.S_IFLNK,
    Kind.HARDLINK: stat.S_IFLNK,  # written as a symlink, see the module docstring
    Kind.CHAR: stat.S_IFCHR,
    Kind.BLOCK: stat.S_IFBLK,
    Kind.FIFO: stat.S_IFIFO,
}


class Sink(Protocol):
    """Anything with write(bytes): a file, a compressing writer."""

    def write(self, data: bytes, /) -> object: ...


def _pad(n: int) -> bytes:
    return b"\0" * (-n & 3)


def header(
    name: str, *, ino: int, mode: int, uid: int = 0, gid: int = 0, nlink: int = 1,
    mtime: int = 0, size: int = 0, rdevmajor: int = 0, rdevminor: int = 0,
) -> bytes:
    """One newc header with its name, padded to 4 bytes (data follows)."""
    encoded = name.encode("utf-8", "surrogateescape") + b"\0"
    fields = (ino, mode, uid, gid, nlink, mtime, size, 0, 0, rdevmajor, rdevminor,
              len(encoded), 0)
    for value in fields:
        if not 0 <= value <= 0xFFFFFFFF:
            raise DistrokitError(f"cpio: {name}: value {value} does not fit a newc header")
    head = MAGIC + "".join(f"{v:08X}" for v in fields).encode("ascii") + encoded
    return head + _pad(len(head))


class _Writer:
    """The state of one archive: inode counter, directories written, output buffer."""

    def __init__(self, out: Sink, mtime_default: int) -> None:
        self.out = out
        self.mtime_default = mtime_default
        self.ino = 0
        self.dirs: set[str] = set()
        # Headers are ~120 bytes; batching them keeps per-write overhead of
        # compressors (gzip, zstd) off the hot path.
        self.buf = bytearray()

    def emit(self, data: bytes) -> None:
        if len(data) >= _FLUSH_AT:  # big file chunks go straight through, uncopied
            self.flush()
            self.out.write(data)
            return
        self.buf += data
        if len(self.buf) >= _FLUSH_AT:
            self.flush()

    def flush(self) -> None:
        if self.buf:
            self.out.write(bytes(self.buf))
            self.buf.clear()

    def next_ino(self) -> int:
        self.ino += 1
        return self.ino

    def parents(self, path: str) -> None:
        parent = posixpath.dirname(path)
        if not parent or parent in self.dirs:
            return
        self.parents(parent)
        self.emit(header(parent, ino=self.next_ino(), mode=stat.S_IFDIR | 0o755, nlink=2,
                         mtime=self.mtime_default))
        self.dirs.add(parent)

    def entry(self, e: Entry) -> None:
        if not e.path:
            return  # the root directory itself: the kernel's rootfs already exists
        self.parents(e.path)
        mode = _TYPE_BITS[e.kind] | (e.mode & 0o7777)
        fields = {"ino": self.next_ino(), "uid": e.uid, "gid": e.gid, "mtime": e.mtime}
        if e.kind is Kind.DIR:
            self.emit(header(e.path, mode=mode, nlink=2, **fields))
            self.dirs.add(e.path)
            return
        self.dirs.discard(e.path)  # a non-directory replaces whatever was there
        if e.kind is Kind.FILE:
            self.emit(header(e.path, mode=mode, size=e.size, **fields))
            self.copy(e)
        elif e.kind in (Kind.SYMLINK, Kind.HARDLINK):
            target = e.linkname
            if e.kind is Kind.HARDLINK:
                target = posixpath.relpath(e.linkname, posixpath.dirname(e.path) or ".")
                mode = stat.S_IFLNK | 0o777
            data = target.encode("utf-8", "surrogateescape")
            self.emit(header(e.path, mode=mode, size=len(data), **fields))
            self.emit(data + _pad(len(data)))
        else:
            self.emit(header(e.path, mode=mode, rdevmajor=e.devmajor, rdevminor=e.devminor,
                             **fields))

    def copy(self, e: Entry) -> None:
        """Stream a regular file's data now: it is valid only until the next entry."""
        remaining = e.size
        if e.data is not None:
            while remaining > 0:
                chunk = e.data.read(min(_CHUNK, remaining))
                if not chunk:
                    break
                remaining -= len(chunk)
                self.emit(chunk)
            extra = e.data.read(1) if remaining == 0 else b""
        else:
            extra = b""
        if remaining or extra:
            short = f"{e.size - remaining} bytes" if remaining else "more"
            raise DistrokitError(
                f"cpio: {e.path}: declared size {e.size} but the data has {short}")
        self.emit(_pad(e.size))

    def trailer(self) -> None:
        self.emit(header(TRAILER, ino=0, mode=0))
        self.flush()


def write_cpio(entries: Iterable[Entry], out: Sink, *, mtime_default: int = 0) -> None:
    """Write a stream as a newc cpio archive, ending with its trailer.

    Entries are consumed one at a time; a file's data is read before the next
    entry is requested. Paths are written as given (relative, no leading '/').
    """
    writer = _Writer(out, mtime_default)
    for entry in entries:
        writer.entry(entry)
    writer.trailer()
