"""Helpers for the registry tests: the registry's coordinates and images made in a cache."""

from __future__ import annotations

import gzip
import io
import socket
import tarfile
from dataclasses import dataclass
from pathlib import Path

from distrokit.image import oci
from distrokit.image.cache import Cache

REGISTRY = "/usr/bin/docker-registry"
USER, PASSWORD = "tester", "test-secret"
# bcrypt of PASSWORD (docker-registry's htpasswd wants bcrypt).
HTPASSWD = f"{USER}:$2b$05$b4yUi7cR5svSSe4VOHIyT.LCXxDY.eMZPOeKnpLVhdNJN2ph.mjpK\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RegistryServer:
    host: str  # 127.0.0.1:PORT
    storage: Path
    auth: str

    def blob_data(self, digest: str) -> Path:
        hexdigest = digest.split(":", 1)[1]
        return self.storage / "docker/registry/v2/blobs/sha256" / hexdigest[:2] / hexdigest / "data"


# -- making images ---------------------------------------------------------------

def layer(files: dict[str, bytes | str | None], compression: str = "gzip") -> bytes:
    """A layer: bytes -> file, str -> symlink, None -> directory."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif isinstance(data, str):
                info.type, info.linkname = tarfile.SYMTYPE, data
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    if compression == "zstd":
        import zstandard
        return bytes(zstandard.ZstdCompressor().compress(raw.getvalue()))
    return gzip.compress(raw.getvalue(), mtime=0)


def _diff_id(blob: bytes) -> str:
    """The digest of a layer's uncompressed tar, as image configs list them."""
    import hashlib

    import zstandard
    raw = (gzip.decompress(blob) if blob[:2] == b"\x1f\x8b"
           else zstandard.ZstdDecompressor().decompressobj().decompress(blob))
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def store_image(cache: Cache, ref: str | None, layers: list[bytes], arch: str = "amd64",
                compression: str = "gzip", docker: bool = False) -> oci.Descriptor:
    """Write an image (manifest, config, layers) into cache, tag it when ref is given."""
    layer_type = oci.LAYER_ZSTD if compression == "zstd" else (
        oci.DOCKER_LAYER_GZIP if docker else oci.LAYER_GZIP)
    descs = [{"mediaType": layer_type, "digest": cache.write_blob(b), "size": len(b)}
             for b in layers]
    config = oci.canonical_json({"architecture": arch, "os": "linux",
                                 "config": {"Env": [f"ARCH={arch}"]},
                                 "rootfs": {"type": "layers",
                                            "diff_ids": [_diff_id(b) for b in layers]}})
    cache.write_blob(config)
    kind = oci.DOCKER_MANIFEST if docker else oci.MANIFEST
    manifest = oci.canonical_json({
        "schemaVersion": 2, "mediaType": kind,
        "config": oci.descriptor(oci.DOCKER_CONFIG if docker else oci.CONFIG, config),
        "layers": descs})
    cache.write_blob(manifest)
    desc = oci.descriptor(kind, manifest)
    if ref:
        cache.tag(ref, desc)
    return desc


def store_index(cache: Cache, ref: str, per_arch: dict[str, list[bytes]]) -> oci.Descriptor:
    manifests = []
    for arch, layers in per_arch.items():
        desc = store_image(cache, None, layers, arch)
        desc["platform"] = {"architecture": arch, "os": "linux"}
        if arch == "arm64":
            desc["platform"]["variant"] = "v8"
        manifests.append(desc)
    index = oci.canonical_json({"schemaVersion": 2, "mediaType": oci.INDEX,
                                "manifests": manifests})
    cache.write_blob(index)
    desc = oci.descriptor(oci.INDEX, index)
    cache.tag(ref, desc)
    return desc
