"""Reading image layers as one flattened filesystem stream.

A single layer streams straight through. Several layers are flattened the way
an overlay would show them: a later layer's entry hides an earlier one at the
same path, ``.wh.NAME`` removes NAME (and everything below it) from earlier
layers and ``.wh..wh..opq`` hides everything earlier below its directory. The
first pass reads only the tar headers to decide which entries survive, the
second streams the survivors.
"""

from __future__ import annotations

import gzip
import tarfile
from collections.abc import Callable, Iterator, Sequence
from typing import IO

import zstandard

from distrokit.image import oci
from distrokit.log import DistrokitError
from distrokit.stream import Entry, Kind, from_tar

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"

Opener = Callable[[], IO[bytes]]


def decompressed(media_type: str, raw: IO[bytes]) -> IO[bytes]:
    if media_type in (oci.LAYER_GZIP, oci.DOCKER_LAYER_GZIP) or media_type.endswith("+gzip"):
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if media_type == oci.LAYER_ZSTD or media_type.endswith("+zstd"):
        return zstandard.ZstdDecompressor().stream_reader(raw)  # type: ignore[no-any-return]
    if media_type == oci.LAYER_TAR or media_type.endswith(".tar"):
        return raw
    raise DistrokitError(f"unsupported layer media type {media_type}")


def _layer_entries(media_type: str, opener: Opener, image: str) -> Iterator[Entry]:
    with opener() as raw, decompressed(media_type, raw) as stream:
        try:
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                for entry in from_tar(tar):
                    _check_path(entry.path, image)
                    yield entry
        except (tarfile.TarError, OSError, EOFError, zstandard.ZstdError) as exc:
            raise DistrokitError(f"image {image}: cannot read layer: {exc}") from None


def _check_path(path: str, image: str) -> None:
    if path.startswith("/") or ".." in path.split("/"):
        raise DistrokitError(f"image {image}: layer entry {path!r} would land outside the root")


def _parents(path: str) -> Iterator[str]:
    parts = path.split("/")
    for i in range(1, len(parts)):
        yield "/".join(parts[:i])


def _no_symlink_crossing(entries: Iterator[Entry], image: str) -> Iterator[Entry]:
    """Refuse an entry whose path (or hard link target) goes through a symlink of
    the image: an unpacker that follows the link would write outside the entry's
    place, e.g. ``lib -> /etc`` then ``lib/passwd``. Both orders are refused."""
    symlinks: set[str] = set()
    parents: set[str] = set()
    for entry in entries:
        if entry.kind is Kind.HARDLINK:
            _check_path(entry.linkname, image)
        for path in (entry.path, entry.linkname) if entry.kind is Kind.HARDLINK else (
                entry.path,):
            for parent in _parents(path):
                if parent in symlinks:
                    raise DistrokitError(
                        f"image {image}: layer entry {entry.path!r} goes through the "
                        f"symlink {parent!r}")
        if entry.kind is Kind.SYMLINK and entry.path in parents:
            raise DistrokitError(
                f"image {image}: layer entry {entry.path!r} is a symlink, but earlier "
                "entries are below it")
        if entry.kind is Kind.SYMLINK:
            symlinks.add(entry.path)
        else:
            symlinks.discard(entry.path)
        parents.update(_parents(entry.path))
        yield entry


def flatten(layers: Sequence[tuple[str, Opener]], image: str) -> Iterator[Entry]:
    """The merged contents of (media type, opener) layers, lowest first."""
    return _no_symlink_crossing(_flatten(layers, image), image)


def _flatten(layers: Sequence[tuple[str, Opener]], image: str) -> Iterator[Entry]:
    if len(layers) == 1:
        yield from (e for e in _layer_entries(*layers[0], image) if not _is_whiteout(e.path))
        return
    # Pass 1: for every path, the layer whose entry is visible at the top.
    visible: dict[str, int] = {}
    dirs: set[str] = set()  # visible paths that are directories
    for index, (media_type, opener) in enumerate(layers):
        removed: list[str] = []
        opaque: list[str] = []
        present: list[tuple[str, bool]] = []
        for entry in _layer_entries(media_type, opener, image):
            parent, _, base = entry.path.rpartition("/")
            if base == OPAQUE:
                opaque.append(parent)
            elif base.startswith(WHITEOUT):
                removed.append(f"{parent}/{base[len(WHITEOUT):]}".lstrip("/"))
            else:
                present.append((entry.path, entry.kind is Kind.DIR))
        for gone in removed:
            _drop_below(visible, gone, include_self=True)
        for directory in opaque:
            _drop_below(visible, directory, include_self=False)
        for path, is_dir in present:
            # As in an overlay, a non-directory hides an earlier directory's contents.
            if not is_dir and path in dirs:
                _drop_below(visible, path, include_self=False)
                dirs.discard(path)
            elif is_dir:
                dirs.add(path)
            visible[path] = index
    # Pass 2: stream each layer, keeping what is visible from it.
    for index, (media_type, opener) in enumerate(layers):
        for entry in _layer_entries(media_type, opener, image):
            if visible.get(entry.path) == index:
                yield entry


def _is_whiteout(path: str) -> bool:
    return path.rpartition("/")[2].startswith(WHITEOUT)


def _drop_below(visible: dict[str, int], path: str, include_self: bool) -> None:
    prefix = f"{path}/" if path else ""
    for key in [k for k in visible if k.startswith(prefix) or (include_self and k == path)]:
        del visible[key]
