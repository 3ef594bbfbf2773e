"""The ``files`` section of the YAML as stream entries, written last so they
win over anything an image put at the same path."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

from distrokit.config.dump import dump_json, dump_yaml
from distrokit.config.schema import File, System
from distrokit.log import DistrokitError
from distrokit.stream import Entry, Kind, clean


def file_entries(system: System, mtime: int) -> Iterator[Entry]:
    for spec in system.files:
        entry = _entry(spec, system, mtime)
        if entry is not None:
            yield entry


def _mode(spec: File, default: int) -> int:
    return int(spec.mode, 8) if spec.mode else default


def _entry(spec: File, system: System, mtime: int) -> Entry | None:
    path = clean(spec.path)
    uid = spec.uid if isinstance(spec.uid, int) else 0
    gid = spec.gid if isinstance(spec.gid, int) else 0
    if isinstance(spec.uid, str) or isinstance(spec.gid, str):
        raise DistrokitError(f"files: {spec.path}: user and group names are not supported yet; "
                             "give numeric uid/gid")
    if spec.directory:
        return Entry(path, Kind.DIR, mode=_mode(spec, 0o755), uid=uid, gid=gid, mtime=mtime)
    if spec.symlink:
        return Entry(path, Kind.SYMLINK, mode=0o777, linkname=spec.symlink, mtime=mtime)
    if spec.metadata:
        data = (dump_yaml(system) if spec.metadata == "yaml" else dump_json(system)).encode()
    elif spec.source:
        source = Path(spec.source).expanduser()
        try:
            data = source.read_bytes()
        except FileNotFoundError:
            if spec.optional:
                return None
            raise DistrokitError(f"files: {spec.path}: source {spec.source} not found") from None
        except OSError as exc:
            raise DistrokitError(f"files: {spec.path}: cannot read {spec.source}: "
                                 f"{exc.strerror}") from None
    else:
        data = (spec.contents or "").encode()
    return Entry(path, Kind.FILE, mode=_mode(spec, 0o600), uid=uid, gid=gid, mtime=mtime,
                 size=len(data), data=io.BytesIO(data))
