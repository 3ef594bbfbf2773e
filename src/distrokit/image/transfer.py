"""Pulling images from registries into the cache, and pushing them back out.

A pull stores one platform of a multi-platform image: its manifest (tagged
with the reference asked for), config and layers, each verified while it
streams in. Layers download in parallel threads.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from distrokit import log
from distrokit.image import oci
from distrokit.image.cache import Cache
from distrokit.image.reference import Reference
from distrokit.image.registry import Blob, Registry, RegistryOptions
from distrokit.log import DistrokitError, info

PARALLEL = 4
SINGLE = (oci.MANIFEST, oci.DOCKER_MANIFEST)
MULTI = (oci.INDEX, oci.DOCKER_LIST)


class Progress:
    """One status line on stderr, only when it is a terminal and not --quiet."""

    def __init__(self, title: str, total: int) -> None:
        self.title, self.total, self.done = title, total, 0
        self._lock = threading.Lock()
        self._shown = 0.0
        self.enabled = sys.stderr.isatty() and log._State.verbosity >= 0

    def __call__(self, count: int) -> None:
        with self._lock:
            self.done += count
            now = time.monotonic()
            if self.enabled and now - self._shown > 0.1:
                self._shown = now
                pct = 100 * self.done // max(self.total, 1)
                sys.stderr.write(f"\r{self.title}: {self.done >> 20}/{self.total >> 20} MiB "
                                 f"{pct:3d}%\x1b[K")
                sys.stderr.flush()

    def finish(self) -> None:
        if self.enabled and self._shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def parse_platform(text: str) -> tuple[str, str | None]:
    """``arm64``, ``arm/v7``, ``linux/arm64/v8`` -> (architecture, variant)."""
    parts = text.split("/")
    if parts[0] == "linux":
        parts = parts[1:]
    if not parts or len(parts) > 2 or not parts[0]:
        raise DistrokitError(f"invalid --arch {text!r}: expected ARCH or ARCH/VARIANT")
    return parts[0], parts[1] if len(parts) == 2 else None


def choose_platform(index: dict[str, Any], arch: str, name: str) -> oci.Descriptor:
    architecture, variant = parse_platform(arch)
    candidates = []
    for desc in index.get("manifests", []):
        platform = desc.get("platform") or {}
        if platform.get("os", "linux") != "linux" or platform.get("architecture") != architecture:
            continue
        if variant is not None and platform.get("variant") != variant:
            continue
        candidates.append(desc)
    if not candidates:
        available = sorted({
            "/".join(filter(None, [p.get("os"), p.get("architecture"), p.get("variant")]))
            for p in (d.get("platform") or {} for d in index.get("manifests", []))})
        raise DistrokitError(f"image {name} has no linux/{arch} variant",
                             hint=f"it has: {', '.join(available) or 'no platforms'}")
    # Without a variant asked for, prefer the plain one, then the newest (v8 > v7 > v6).
    candidates.sort(key=lambda d: str((d.get("platform") or {}).get("variant", "~")),
                    reverse=True)
    return dict(candidates[0])


def _load(data: bytes, name: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except ValueError:
        raise DistrokitError(f"image {name}: the manifest is not valid JSON") from None
    if not isinstance(value, dict):
        raise DistrokitError(f"image {name}: the manifest is not a JSON object")
    return dict(value)


def _kind(value: dict[str, Any], media_type: str) -> str:
    kind = str(value.get("mediaType") or media_type)
    if kind not in SINGLE + MULTI:
        kind = oci.INDEX if "manifests" in value else oci.MANIFEST if "layers" in value else kind
    return kind


class Session:
    """Registries by name, reused across pulls and pushes (tokens, connections)."""

    def __init__(self, options: RegistryOptions | None = None) -> None:
        self.options = options or RegistryOptions()
        self._registries: dict[str, Registry] = {}

    def registry(self, name: str, url: str | None = None) -> Registry:
        key = url or name
        if key not in self._registries:
            self._registries[key] = Registry(name, self.options, url)
        return self._registries[key]

    def endpoints(self, name: str) -> list[Registry]:
        """Where to pull from: the mirrors first, then the registry itself."""
        return [self.registry(name, url) for url in self.options.mirrors.get(name, [])] + [
            self.registry(name)]

    def close(self) -> None:
        for registry in self._registries.values():
            registry.close()


def pull(cache: Cache, ref: str, session: Session, arch: str = "amd64") -> oci.Descriptor:
    """Fetch ref (one platform of it) into the cache and tag it; its descriptor."""
    reference = Reference.parse(ref)
    name = str(reference)
    errors = []
    for registry in session.endpoints(reference.registry):
        try:
            return _pull_from(cache, registry, reference, arch)
        except DistrokitError as exc:
            if registry is session.registry(reference.registry):
                raise
            errors.append(str(exc))
            log.warn(f"mirror {registry.base}: {exc}; trying the next")
    raise DistrokitError(f"cannot pull {name}: {'; '.join(errors)}")


def _pull_from(cache: Cache, registry: Registry, reference: Reference, arch: str) -> oci.Descriptor:
    name, repo = str(reference), reference.repository
    data, media_type, digest = registry.get_manifest(repo, reference.digest or str(reference.tag))
    value = _load(data, name)
    kind = _kind(value, media_type)
    if kind in MULTI:
        chosen = choose_platform(value, arch, name)
        data, media_type, digest = registry.get_manifest(repo, chosen["digest"])
        value = _load(data, name)
        kind = _kind(value, media_type)
    if kind not in SINGLE:
        raise DistrokitError(f"image {name}: unsupported manifest type {kind!r}",
                             hint="schema 1 manifests are not supported; re-push the image")
    blobs = [value.get("config") or {}, *list(value.get("layers") or [])]
    wanted = []
    for desc in blobs:
        digest_text = str(desc.get("digest", ""))
        cache.blob_path(digest_text)  # refuses anything but sha256
        if not cache.has_blob(digest_text):
            wanted.append(Blob(digest_text, int(desc.get("size", 0))))
    wanted = list({b.digest: b for b in wanted}.values())
    total = sum(b.size for b in wanted)
    info(f"pulling {name}" + (f" ({len(wanted)} blobs, {total / 1e6:.1f} MB)" if wanted else ""))
    progress = Progress(f"pulling {reference.short()}", total)

    def fetch(blob: Blob) -> None:
        with cache.blob_writer(expected=blob.digest) as writer:
            registry.fetch_blob(repo, blob, writer, progress)

    try:
        _parallel(fetch, sorted(wanted, key=lambda b: -b.size))
    finally:
        progress.finish()
    stored = cache.write_blob(data)
    assert stored == digest
    desc = {"mediaType": kind, "digest": digest, "size": len(data)}
    cache.tag(name, desc)
    return desc


def _parallel(job: Callable[[Blob], None], blobs: list[Blob]) -> None:
    if len(blobs) <= 1:
        for blob in blobs:
            job(blob)
        return
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        futures = [pool.submit(job, blob) for blob in blobs]
        first_error: BaseException | None = None
        for future in futures:
            try:
                future.result()
            except BaseException as exc:  # keep the first, let the others finish
                first_error = first_error or exc
        if first_error is not None:
            raise first_error


def ensure(cache: Cache, ref: str, session: Session, *, arch: str = "amd64",
           refresh: bool = False) -> oci.Descriptor:
    """The cached image, pulled only when missing (or when refresh asks again)."""
    desc = None if refresh else cache.lookup(ref)
    if desc is not None and cache.closure(desc).complete:
        return desc
    return pull(cache, ref, session, arch)


def push(cache: Cache, ref: str, session: Session, remote: str | None = None) -> str:
    """Push a cached image (manifest or index) to remote (default: ref); its digest."""
    desc = cache.lookup(ref)
    if desc is None:
        raise DistrokitError(f"image {Reference.parse(ref)} is not in the cache {cache.root}")
    source = Reference.parse(ref)
    target = Reference.parse(remote or ref)
    registry = session.registry(target.registry)
    mount_from = source.repository if (source.registry == target.registry
                                       and source.repository != target.repository) else None
    data = cache.read_blob(desc["digest"])
    value = _load(data, str(source))
    kind = _kind(value, str(desc.get("mediaType", "")))
    info(f"pushing {source} to {target}")
    if kind in MULTI:
        children = value.get("manifests", [])
        missing = [c["digest"] for c in children if not cache.has_blob(c["digest"])]
        if missing:
            raise DistrokitError(
                f"image {source}: cannot push the whole index, {len(missing)} of its "
                f"platforms are not in the cache", hint="pull them, or push one platform")
        for child in children:
            child_data = cache.read_blob(child["digest"])
            _push_manifest(cache, registry, target.repository, child_data,
                           _kind(_load(child_data, str(source)), child.get("mediaType", "")),
                           child["digest"], mount_from)
    else:
        _push_manifest(cache, registry, target.repository, data, kind, None, mount_from)
    if target.digest and target.digest != desc["digest"]:
        raise DistrokitError(f"cannot push {source} as {target}: its digest is {desc['digest']}")
    registry.put_manifest(target.repository, target.tag or str(desc["digest"]), data, kind)
    return str(desc["digest"])


def _push_manifest(cache: Cache, registry: Registry, repo: str, data: bytes, kind: str,
                   by_digest: str | None, mount_from: str | None) -> None:
    value = _load(data, repo)
    descs = [value.get("config") or {}, *list(value.get("layers") or [])]
    blobs = list({str(d["digest"]): Blob(str(d["digest"]), int(d["size"]))
                  for d in descs if d.get("digest")}.values())
    for blob in blobs:
        if not cache.has_blob(blob.digest):
            raise DistrokitError(f"image {repo}: blob {blob.digest} is missing from the cache",
                                 hint="run 'distrokit cache verify' and pull it again")
    progress = Progress(f"pushing {repo}", sum(b.size for b in blobs))

    def upload(blob: Blob) -> None:
        if registry.has_blob(repo, blob.digest):
            return
        location = None
        if mount_from:
            location = registry.mount_blob(repo, blob.digest, mount_from)
            if location is None:
                return
        registry.upload_blob(repo, blob, lambda: cache.open_blob(blob.digest), location,
                             progress)

    try:
        _parallel(upload, blobs)
    finally:
        progress.finish()
    if by_digest:
        registry.put_manifest(repo, by_digest, data, kind)
