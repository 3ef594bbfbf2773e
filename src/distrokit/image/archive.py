"""Images in and out of the cache as tar files.

Export writes an OCI image layout tar (``oci``), the same with Docker's
``manifest.json`` added so ``docker load`` reads it too (``docker``), or the
image's flattened root filesystem (``filesystem``). Import reads an OCI
layout tar or a ``docker save`` tar (old or new style); every blob is checked
against its digest on the way in.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from distrokit.image import oci
from distrokit.image.cache import Cache
from distrokit.image.image import Image
from distrokit.image.reference import Reference
from distrokit.log import DistrokitError
from distrokit.stream import write_tar

FORMATS = ("oci", "docker", "filesystem")
CONTAINERD_NAME = "io.containerd.image.name"


@contextlib.contextmanager
def output(target: str) -> Iterator[IO[bytes]]:
    """A file written atomically (temp + rename), or stdout for '-'."""
    if target == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    path = Path(target)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError as exc:
        raise DistrokitError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def export(cache: Cache, ref: str, fmt: str, out: IO[bytes], arch: str = "amd64") -> None:
    desc = cache.lookup(ref)
    if desc is None:
        raise DistrokitError(f"image {Reference.parse(ref)} is not in the cache {cache.root}")
    name = str(Reference.parse(ref))
    if fmt == "filesystem":
        image = Image.open(cache, ref, arch)
        assert image is not None
        write_tar(image.entries(), out)
        return
    if fmt == "docker":
        # Docker loads one platform: the manifest itself, not an index.
        image = Image.open(cache, ref, arch)
        assert image is not None
        data = cache.read_blob(image.digest)
        desc = {"mediaType": json.loads(data).get("mediaType", oci.MANIFEST),
                "digest": image.digest, "size": len(data)}
    closure = cache.closure(desc)
    if not closure.complete:
        raise DistrokitError(f"image {name} is incomplete in the cache",
                             hint="run 'distrokit cache verify' and pull it again")
    entry = {**{k: v for k, v in desc.items() if k != "annotations"},
             "annotations": {oci.REF_NAME: name, CONTAINERD_NAME: name}}
    index = {"schemaVersion": 2, "mediaType": oci.INDEX, "manifests": [entry]}
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        _add(tar, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        _add(tar, "index.json", json.dumps(index, indent=2).encode())
        for digest in sorted(d for d in closure.blobs if cache.has_blob(d)):
            path = cache.blob_path(digest)
            info = tarfile.TarInfo("blobs/sha256/" + digest.split(":", 1)[1])
            info.size, info.mode = path.stat().st_size, 0o644
            with path.open("rb") as f:
                tar.addfile(info, f)
        if fmt == "docker":
            manifest = json.loads(cache.read_blob(desc["digest"]))
            reference = Reference.parse(ref)
            tag = f"{reference.short().split('@')[0]}" if reference.tag else None
            _add(tar, "manifest.json", json.dumps([{
                "Config": _blob_name(manifest["config"]["digest"]),
                "RepoTags": [tag] if tag else [],
                "Layers": [_blob_name(layer["digest"]) for layer in manifest["layers"]],
            }]).encode())


def _blob_name(digest: str) -> str:
    return "blobs/sha256/" + digest.split(":", 1)[1]


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o644
    tar.addfile(info, io.BytesIO(data))


def import_archive(cache: Cache, path: Path, name: str | None = None) -> list[str]:
    """Store the images of an OCI layout tar or a docker save tar; their names."""
    try:
        tar = tarfile.open(path, mode="r:*")  # noqa: SIM115 (closed below)
    except (OSError, tarfile.TarError) as exc:
        raise DistrokitError(f"cannot read {path}: not a tar file"
                             if isinstance(exc, tarfile.TarError) else
                             f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        with tar:
            members = {m.name.removeprefix("./"): m for m in tar.getmembers() if m.isfile()}
            if "index.json" in members and "oci-layout" in members:
                return _import_oci(cache, tar, members, path, name)
            if "manifest.json" in members:
                return _import_docker(cache, tar, members, path, name)
    except (tarfile.TarError, EOFError) as exc:
        raise DistrokitError(f"cannot read {path}: {exc} (a truncated or damaged tar?)") from None
    if name is None:
        raise DistrokitError(
            f"{path} is neither an OCI image layout nor a 'docker save' tar",
            hint="to import it as a root filesystem (like docker import), give --name REF")
    return [_import_rootfs(cache, path, name)]


def _import_rootfs(cache: Cache, path: Path, name: str) -> str:
    """A plain root filesystem tar (distrokit's docker format, say) as a
    one-layer image, as ``docker import`` takes it: the tar is the layer."""
    with path.open("rb") as f, cache.blob_writer() as layer:
        while chunk := f.read(1 << 20):
            layer.write(chunk)
    config = oci.canonical_json({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [layer.digest]},
    })
    cache.write_blob(config)
    manifest = oci.canonical_json({
        "schemaVersion": 2, "mediaType": oci.MANIFEST,
        "config": oci.descriptor(oci.CONFIG, config),
        "layers": [{"mediaType": oci.LAYER_TAR, "digest": layer.digest, "size": layer.size}],
    })
    cache.write_blob(manifest)
    cache.tag(name, oci.descriptor(oci.MANIFEST, manifest))
    return str(Reference.parse(name))


def _read(tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo], member: str,
          path: Path) -> bytes:
    info = members.get(member.removeprefix("./"))
    f = tar.extractfile(info) if info else None
    if f is None:
        raise DistrokitError(f"{path}: {member} is missing")
    return f.read()


def _json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        raise DistrokitError(f"{what} is not valid JSON") from None


def _copy(cache: Cache, tar: tarfile.TarFile, info: tarfile.TarInfo,
          expected: str | None) -> tuple[str, int]:
    f = tar.extractfile(info)
    assert f is not None
    with cache.blob_writer(expected) as writer:
        while chunk := f.read(1 << 20):
            writer.write(chunk)
    return writer.digest, writer.size


def _import_oci(cache: Cache, tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo],
                path: Path, name: str | None) -> list[str]:
    index = _json(_read(tar, members, "index.json", path), f"{path}: index.json")
    for member, info in members.items():
        if member.startswith("blobs/sha256/"):
            digest = "sha256:" + member.rsplit("/", 1)[1]
            cache.blob_path(digest)  # a proper sha256 name, or an error
            if not cache.has_blob(digest):
                _copy(cache, tar, info, digest)
    names = []
    for desc in index.get("manifests", []):
        annotations = desc.get("annotations") or {}
        label = name or annotations.get(CONTAINERD_NAME) or annotations.get(oci.REF_NAME)
        if not label:
            continue
        if not cache.closure(desc).complete:
            raise DistrokitError(f"{path}: image {label} lacks some of its blobs")
        cache.tag(label, desc)
        names.append(str(Reference.parse(label)))
    if not names:
        raise DistrokitError(f"{path} names no image", hint="give one with --name REF")
    return names


def _import_docker(cache: Cache, tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo],
                   path: Path, name: str | None) -> list[str]:
    entries = _json(_read(tar, members, "manifest.json", path), f"{path}: manifest.json")
    names = []
    for entry in entries if isinstance(entries, list) else []:
        config = _read(tar, members, entry["Config"], path)
        layers = []
        for layer in entry.get("Layers", []):
            info = members.get(layer.removeprefix("./"))
            if info is None:
                raise DistrokitError(f"{path}: layer {layer} is missing")
            f = tar.extractfile(info)
            assert f is not None
            magic = f.read(4)
            media_type = (oci.LAYER_GZIP if magic[:2] == b"\x1f\x8b" else
                          oci.LAYER_ZSTD if magic == b"\x28\xb5\x2f\xfd" else oci.LAYER_TAR)
            digest, size = _copy(cache, tar, info, None)
            layers.append({"mediaType": media_type, "digest": digest, "size": size})
        manifest = oci.canonical_json({
            "schemaVersion": 2, "mediaType": oci.MANIFEST,
            "config": {"mediaType": oci.CONFIG, "digest": cache.write_blob(config),
                       "size": len(config)},
            "layers": layers})
        cache.write_blob(manifest)
        desc = oci.descriptor(oci.MANIFEST, manifest)
        for tag in [name] if name else entry.get("RepoTags") or []:
            cache.tag(tag, desc)
            names.append(str(Reference.parse(tag)))
    if not names:
        raise DistrokitError(f"{path} names no image", hint="give one with --name REF")
    return names
