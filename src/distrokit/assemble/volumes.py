"""The ``volumes`` section: each volume laid out as LinuxKit does, and the
containers' binds of a volume pointed at it.

    containers/volumes/NAME/lower/    the image's files (format filesystem), or
                                      the image as an OCI layout (format oci),
                                      or nothing (a volume without image)
    containers/volumes/NAME/tmp/      only for a writable volume
    containers/volumes/NAME/merged/   what containers bind

At boot the init mounts ``merged``: an overlay of ``lower`` under a tmpfs in
``tmp`` (writable), or a read-only bind of ``lower`` (``readonly: true``).
LinuxKit writes ``tmp`` for every volume, so its init mounts them all
writable; here a read-only volume is read-only in the system too.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterator
from typing import Any

from distrokit.config.schema import Volume
from distrokit.image import oci
from distrokit.image.image import Image
from distrokit.log import DistrokitError
from distrokit.stream import Entry, Kind, directory, file

BASE = "containers/volumes"


def merged_dir(name: str) -> str:
    """The absolute path containers bind for the volume ``name``."""
    return f"/{BASE}/{name}/merged"


def rewrite_binds(entry: dict[str, Any]) -> dict[str, Any]:
    """A YAML container entry with every bind of a volume (a source not
    starting with '/') pointing at the volume's merged directory. The config
    stage has checked that each such volume exists and that a read-only one is
    bound ``ro``; the label's binds are left alone, as LinuxKit does."""
    out = dict(entry)
    for key in ("binds", "binds.add"):
        if out.get(key):
            out[key] = [_bind(text) for text in out[key]]
    if out.get("mounts"):
        out["mounts"] = [
            {**m, "source": merged_dir(m["source"])}
            if m.get("type") == "bind" and m.get("source") and not m["source"].startswith("/")
            else m
            for m in out["mounts"]
        ]
    return out


def _bind(text: str) -> str:
    source, sep, rest = text.partition(":")
    if not source or source.startswith("/") or not sep:
        return text
    return f"{merged_dir(source)}:{rest}"


def volume_entries(volume: Volume, image: Image | None, mtime: int,
                   unpack: Any) -> Iterator[Entry]:
    """The stream entries of one volume. ``unpack(image, prefix)`` writes an
    image's files under prefix (filtered as every container image is)."""
    base = f"{BASE}/{volume.name}"
    yield directory(base, mtime=mtime)
    if image is None:
        yield directory(f"{base}/lower", mtime=mtime)
    elif volume.format == "oci":
        yield from oci_layout(image, volume.platforms or [], f"{base}/lower", mtime)
    else:
        yield from unpack(image, f"{base}/lower")
    if not volume.readonly:
        yield directory(f"{base}/tmp", mtime=mtime)
    yield directory(f"{base}/merged", mtime=mtime)


def oci_layout(image: Image, platforms: list[str], prefix: str, mtime: int) -> Iterator[Entry]:
    """The image as an OCI image layout (what ``skopeo copy oci:DIR`` reads):
    oci-layout, index.json naming the image, and its blobs. ``platforms``
    ("os/arch[/variant]") picks the variants of a multi-platform image that
    the cache holds; none means the one the build uses."""
    images = [image]
    if platforms:
        images = []
        for platform in platforms:
            os_name, arch = platform.split("/")[:2]
            chosen = Image.open(image.cache, image.ref, arch) if os_name == "linux" else None
            if chosen is None:
                raise DistrokitError(f"volume image {image.ref}: no {platform} variant in the "
                                     "cache")
            images.append(chosen)
    manifests = []
    blobs: dict[str, int] = {}  # digest -> size; a layer shared by variants is written once
    for img in images:
        raw = img.cache.read_blob(img.digest)
        blobs[img.digest] = len(raw)
        blobs[img.manifest["config"]["digest"]] = int(img.manifest["config"]["size"])
        for layer in img.manifest.get("layers", []):
            blobs[layer["digest"]] = int(layer["size"])
        arch = img.config.get("architecture", "amd64")
        manifests.append({
            "mediaType": img.manifest.get("mediaType", oci.MANIFEST),
            "digest": img.digest,
            "size": len(raw),
            "platform": {"architecture": arch, "os": img.config.get("os", "linux")},
            "annotations": {oci.REF_NAME: image.ref},
        })
    index = {"schemaVersion": 2, "mediaType": oci.INDEX, "manifests": manifests}
    yield directory(prefix, mtime=mtime)
    yield file(f"{prefix}/oci-layout", b'{"imageLayoutVersion":"1.0.0"}\n', mtime=mtime)
    yield file(f"{prefix}/index.json", json.dumps(index, indent=2).encode() + b"\n",
               mtime=mtime)
    yield directory(f"{prefix}/blobs", mtime=mtime)
    yield directory(f"{prefix}/blobs/sha256", mtime=mtime)
    for digest, size in blobs.items():
        path = posixpath.join(prefix, "blobs", *digest.split(":", 1))
        data = image.cache.open_blob(digest)
        try:
            yield Entry(path, Kind.FILE, mode=0o644, mtime=mtime, size=size, data=data)
        finally:
            data.close()
