"""The ``files`` section of the YAML as stream entries, written last so they
win over anything an image put at the same path.

As LinuxKit (moby/build filesystem()): a file's mode defaults to 0600, a
directory's to 0700; ``uid``/``gid`` are numbers or a container's name (the
id LinuxKit allots it); ``source`` is read relative to the current directory,
``~/`` expanding to the home directory, and with ``optional: true`` a source
that cannot be read is skipped. Missing parent directories are made with the
file's owner and its mode plus the matching x bits. Unlike LinuxKit, parents
that already exist (from an image, or an earlier file) are left as they are:
LinuxKit rewrites them, so a 0600 file in /etc would make /etc 0700.
"""

from __future__ import annotations

import io
import posixpath
from collections.abc import Iterator
from pathlib import Path

from distrokit.assemble import spec
from distrokit.config.dump import dump_json, dump_yaml
from distrokit.config.schema import File, System
from distrokit.log import DistrokitError
from distrokit.stream import Entry, Kind, clean


def file_entries(system: System, mtime: int, present: set[str] | None = None) -> Iterator[Entry]:
    """``present``: the directories already in the stream (updated as parents are made)."""
    ids = spec.assign_ids([c.linuxkit() for _, _, c in system.containers()])
    present = set() if present is None else present
    for index, f in enumerate(system.files):
        entry = _entry(f, index, system, ids, mtime)
        if entry is None:
            continue
        yield from _parents(entry, present)
        if entry.kind is Kind.DIR:
            present.add(entry.path)
        yield entry


def _parents(entry: Entry, present: set[str]) -> Iterator[Entry]:
    missing = []
    parent = posixpath.dirname(entry.path)
    while parent and parent not in present:
        missing.append(parent)
        parent = posixpath.dirname(parent)
    mode = entry.mode & 0o777
    for bits in (0o700, 0o070, 0o007):  # x wherever r or w is granted
        if mode & bits:
            mode |= bits & 0o111
    for path in reversed(missing):
        present.add(path)
        yield Entry(path, Kind.DIR, mode=mode, uid=entry.uid, gid=entry.gid, mtime=entry.mtime)


def _id(value: int | str | None, ids: dict[str, int]) -> int:
    if isinstance(value, int):
        return value
    # the config stage has checked that a name is "root" or a container's
    return 0 if value in (None, "", "root") else ids[value]


def _entry(f: File, index: int, system: System, ids: dict[str, int],
           mtime: int) -> Entry | None:
    path = clean(f.path)
    uid, gid = _id(f.uid, ids), _id(f.gid, ids)
    mode = int(f.mode, 8) if f.mode else (0o700 if f.directory else 0o600)
    if f.directory:
        return Entry(path, Kind.DIR, mode=mode, uid=uid, gid=gid, mtime=mtime)
    if f.symlink:
        return Entry(path, Kind.SYMLINK, mode=0o777, uid=uid, gid=gid, linkname=f.symlink,
                     mtime=mtime)
    if f.metadata:
        data = (dump_yaml(system) if f.metadata == "yaml" else dump_json(system)).encode()
    elif f.source:
        source = _read_source(f, index, system)
        if source is None:
            return None
        data = source
    else:
        data = (f.contents or "").encode()
    return Entry(path, Kind.FILE, mode=mode, uid=uid, gid=gid, mtime=mtime,
                 size=len(data), data=io.BytesIO(data))


def _read_source(f: File, index: int, system: System) -> bytes | None:
    source = Path(f.source).expanduser() if f.source.startswith("~/") else Path(f.source)
    try:
        return source.read_bytes()
    except OSError as exc:
        if f.optional:  # as LinuxKit: any source it cannot read is skipped
            return None
        pos = system.where("files", index, "source")
        where = f"{pos}: " if pos else ""
        raise DistrokitError(f"{where}files[{index}].source: cannot read {f.source}: "
                             f"{exc.strerror or exc}",
                             "paths are relative to the current directory; "
                             "add optional: true to skip a missing file") from None
