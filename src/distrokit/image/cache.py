"""The local image cache: an OCI image layout (``oci-layout``, ``index.json``,
``blobs/sha256/...``) that other OCI tools can read.

Blobs are content-addressed and written atomically (a temporary file in the
cache, renamed into place once its digest is checked), so no half blob is ever
visible. ``index.json`` is rewritten under a lock, so concurrent builds can
share one cache. Images are named by the ``org.opencontainers.image.ref.name``
annotation holding the normalised reference.

Every process that opens the cache holds a shared lock on ``.gc-lock`` for
as long as it runs; ``cache clean`` needs it exclusively, so it never deletes
a blob that a running pull or build has just written but not yet tagged.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import platformdirs
from filelock import FileLock

from distrokit.image import oci
from distrokit.image.reference import normalise
from distrokit.log import DistrokitError


def default_cache_dir() -> Path:
    env = os.environ.get("DISTROKIT_CACHE")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_cache_dir("distrokit"))


class Cache:
    def __init__(self, root: Path) -> None:
        self.root = root
        try:
            (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
            self.tmp.mkdir(exist_ok=True)
        except OSError as exc:
            raise DistrokitError(f"cannot use cache {root}: {exc.strerror}") from None
        layout = root / "oci-layout"
        if not layout.exists():
            self._write_atomic(layout, b'{"imageLayoutVersion":"1.0.0"}')
        if not (root / "index.json").exists():
            self._write_index([])
        # Shared for this object's life; see exclusive().
        self._gc = (root / ".gc-lock").open("a")
        fcntl.flock(self._gc, fcntl.LOCK_SH)

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        with FileLock(str(self.root / ".lock")):
            yield

    # -- blobs -------------------------------------------------------------

    def blob_path(self, digest: str) -> Path:
        algorithm, _, hexdigest = digest.partition(":")
        if algorithm != "sha256" or len(hexdigest) != 64:
            raise DistrokitError(f"unsupported digest {digest!r}")
        return self.root / "blobs" / "sha256" / hexdigest

    def has_blob(self, digest: str) -> bool:
        return self.blob_path(digest).exists()

    def read_blob(self, digest: str) -> bytes:
        try:
            data = self.blob_path(digest).read_bytes()
        except FileNotFoundError:
            raise DistrokitError(
                f"blob {digest} is missing from the cache {self.root}"
            ) from None
        if oci.sha256_digest(data) != digest:
            raise DistrokitError(f"blob {digest} in the cache {self.root} is corrupt")
        return data

    def open_blob(self, digest: str) -> IO[bytes]:
        try:
            return self.blob_path(digest).open("rb")
        except FileNotFoundError:
            raise DistrokitError(
                f"blob {digest} is missing from the cache {self.root}"
            ) from None

    def write_blob(self, data: bytes) -> str:
        digest = oci.sha256_digest(data)
        if not self.has_blob(digest):
            self._write_atomic(self.blob_path(digest), data)
        return digest

    @contextlib.contextmanager
    def blob_writer(self, expected: str | None = None) -> Iterator[BlobWriter]:
        """Stream a blob in; it appears under its digest only if the block ends cleanly
        (and, when expected is given, only if the bytes have that digest)."""
        writer = BlobWriter(self)
        try:
            yield writer
        except BaseException:
            writer.discard()
            raise
        writer.commit(expected)

    def blob_digests(self) -> list[str]:
        return sorted("sha256:" + p.name for p in (self.root / "blobs" / "sha256").iterdir()
                      if len(p.name) == 64)

    def check_blob(self, digest: str) -> bool:
        """Re-hash a stored blob: True when its bytes match its name."""
        h = hashlib.sha256()
        try:
            with self.blob_path(digest).open("rb") as f:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
        except FileNotFoundError:
            return False
        return "sha256:" + h.hexdigest() == digest

    def drop_blob(self, digest: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.blob_path(digest).unlink()

    # -- images ------------------------------------------------------------

    def _read_index(self) -> dict[str, Any]:
        try:
            index: dict[str, Any] = json.loads((self.root / "index.json").read_text())
        except (OSError, ValueError) as exc:
            raise DistrokitError(f"cannot read {self.root / 'index.json'}: {exc}") from None
        return index

    def _write_index(self, manifests: list[oci.Descriptor]) -> None:
        index = {"schemaVersion": 2, "mediaType": oci.INDEX, "manifests": manifests}
        data = json.dumps(index, indent=2, sort_keys=True).encode() + b"\n"
        self._write_atomic(self.root / "index.json", data)

    def names(self) -> dict[str, oci.Descriptor]:
        """Every named image: reference -> manifest (or index) descriptor."""
        named = {}
        for desc in self._read_index().get("manifests", []):
            name = desc.get("annotations", {}).get(oci.REF_NAME)
            if name:
                named[name] = desc
        return named

    def lookup(self, ref: str) -> oci.Descriptor | None:
        return self.names().get(normalise(ref))

    def tag(self, ref: str, desc: oci.Descriptor) -> None:
        """Name a manifest already in the cache (replacing an older image of that name)."""
        name = normalise(ref)
        entry = {k: v for k, v in desc.items() if k != "annotations"}
        entry["annotations"] = {oci.REF_NAME: name}
        with self.lock():
            manifests = [
                d for d in self._read_index().get("manifests", [])
                if d.get("annotations", {}).get(oci.REF_NAME) != name
            ]
            manifests.append(entry)
            manifests.sort(key=lambda d: str(d.get("annotations", {}).get(oci.REF_NAME, "")))
            self._write_index(manifests)

    def untag(self, ref: str) -> bool:
        name = normalise(ref)
        with self.lock():
            before = self._read_index().get("manifests", [])
            after = [d for d in before if d.get("annotations", {}).get(oci.REF_NAME) != name]
            self._write_index(after)
        return len(after) != len(before)

    def closure(self, desc: oci.Descriptor) -> Closure:
        """The blobs an image needs, and whether all of them are present.

        An index counts as complete when it and at least one of its manifests
        are (a pull keeps only the platform it was asked for)."""
        digest = desc["digest"]
        if not self.has_blob(digest):
            return Closure({digest}, complete=False)
        try:
            value = json.loads(self.blob_path(digest).read_bytes())
        except (OSError, ValueError):
            return Closure({digest}, complete=False)
        if not isinstance(value, dict):
            return Closure({digest}, complete=False)
        if "manifests" in value:
            children = [self.closure(m) for m in value.get("manifests", [])
                        if isinstance(m, dict) and self.has_blob(str(m.get("digest", "")))]
            blobs = {digest}.union(*(c.blobs for c in children))
            return Closure(blobs, complete=bool(children) and all(c.complete for c in children))
        needed = [value.get("config", {}), *list(value.get("layers", []))]
        blobs = {digest} | {str(d.get("digest")) for d in needed if isinstance(d, dict)}
        return Closure(blobs, complete=all(self.has_blob(d) for d in blobs))

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """No other distrokit process is using the cache while this block runs."""
        try:
            fcntl.flock(self._gc, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DistrokitError(
                f"the cache {self.root} is in use by another distrokit process",
                hint="try again when it has finished") from None
        try:
            yield
        finally:
            fcntl.flock(self._gc, fcntl.LOCK_SH)

    def clean(self, everything: bool = False) -> tuple[int, int]:
        """Drop unreferenced blobs and leftover temporary files (or everything):
        (blobs removed, bytes freed)."""
        count = freed = 0
        with self.exclusive(), self.lock():
            if everything:
                self._write_index([])
            keep: set[str] = set()
            for desc in self.names().values():
                keep |= self.closure(desc).blobs
            for digest in self.blob_digests():
                if digest not in keep:
                    path = self.blob_path(digest)
                    freed += path.stat().st_size
                    path.unlink()
                    count += 1
            for leftover in self.tmp.iterdir():
                if leftover.is_dir():
                    shutil.rmtree(leftover, ignore_errors=True)
                else:
                    leftover.unlink(missing_ok=True)
        return count, freed

    def verify(self) -> tuple[list[str], list[str]]:
        """Re-hash every blob, drop the corrupt ones and untag the images that
        lost a blob: (corrupt digests, untagged names)."""
        corrupt = [d for d in self.blob_digests() if not self.check_blob(d)]
        for digest in corrupt:
            self.drop_blob(digest)
        untagged = [name for name, desc in self.names().items()
                    if not self.closure(desc).complete]
        for name in untagged:
            self.untag(name)
        return corrupt, untagged

    # -- helpers -----------------------------------------------------------

    def _write_atomic(self, path: Path, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.tmp if self.tmp.exists() else path.parent)
        try:
            os.fchmod(fd, 0o644)  # readable like any other file the user writes
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


@dataclass(frozen=True)
class Closure:
    blobs: set[str]
    complete: bool


class BlobWriter:
    """A blob being streamed into the cache: hashed as written, renamed when done."""

    def __init__(self, cache: Cache) -> None:
        self.cache = cache
        fd, name = tempfile.mkstemp(dir=cache.tmp, prefix="blob-")
        os.fchmod(fd, 0o644)
        self._path = Path(name)
        self._file = os.fdopen(fd, "wb")
        self._hash = hashlib.sha256()
        self.size = 0
        self.digest = ""

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._file.write(data)
        self._hash.update(data)
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        pass

    def restart(self) -> None:
        """Forget what was written (a download starting over)."""
        self._file.seek(0)
        self._file.truncate()
        self._hash = hashlib.sha256()
        self.size = 0

    def commit(self, expected: str | None = None) -> None:
        self._file.close()
        self.digest = "sha256:" + self._hash.hexdigest()
        if expected is not None and self.digest != expected:
            self.discard()
            raise DistrokitError(
                f"blob {expected} does not match its digest (got {self.digest}); "
                "it was not stored")
        target = self.cache.blob_path(self.digest)
        if target.exists():
            self._path.unlink()
        else:
            os.replace(self._path, target)

    def discard(self) -> None:
        self._file.close()
        with contextlib.suppress(OSError):
            self._path.unlink()
