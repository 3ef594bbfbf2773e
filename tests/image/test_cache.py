import gzip
import io
import json
import tarfile
from pathlib import Path

import pytest

from distrokit.image import oci
from distrokit.image.cache import Cache
from distrokit.image.image import Image
from distrokit.log import DistrokitError
from distrokit.stream import Kind


def _layer(files: dict[str, bytes | None]) -> bytes:
    """A gzip tar layer; None makes a directory."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def _store(cache: Cache, ref: str, layers: list[bytes], label: dict | None = None) -> None:
    descs = [{"mediaType": oci.LAYER_GZIP, "digest": cache.write_blob(b), "size": len(b)}
             for b in layers]
    cfg: dict = {"Env": ["A=1"]}
    if label is not None:
        cfg["Labels"] = {oci.LABEL: json.dumps(label)}
    config = oci.canonical_json({"architecture": "amd64", "os": "linux", "config": cfg,
                                 "rootfs": {"type": "layers", "diff_ids": []}})
    cache.write_blob(config)
    manifest = oci.canonical_json({"schemaVersion": 2, "mediaType": oci.MANIFEST,
                                   "config": oci.descriptor(oci.CONFIG, config),
                                   "layers": descs})
    cache.write_blob(manifest)
    cache.tag(ref, oci.descriptor(oci.MANIFEST, manifest))


def test_layout_files(tmp_path: Path) -> None:
    Cache(tmp_path)
    assert json.loads((tmp_path / "oci-layout").read_text())["imageLayoutVersion"] == "1.0.0"
    index = json.loads((tmp_path / "index.json").read_text())
    assert index["schemaVersion"] == 2 and index["manifests"] == []


def test_tag_lookup_untag(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    _store(cache, "distrokit/x:1", [_layer({"a": b"1"})], label={"pid": "host"})
    assert cache.lookup("docker.io/distrokit/x:1") is not None
    image = Image.open(cache, "distrokit/x:1")
    assert image is not None
    assert image.label == {"pid": "host"}
    assert image.runtime_config["Env"] == ["A=1"]
    assert [e.path for e in image.entries()] == ["a"]
    # Re-tagging replaces, never duplicates.
    _store(cache, "distrokit/x:1", [_layer({"b": b"2"})])
    assert len(json.loads((tmp_path / "index.json").read_text())["manifests"]) == 1
    assert cache.untag("distrokit/x:1")
    assert Image.open(cache, "distrokit/x:1") is None


def test_corrupt_blob_is_refused(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    digest = cache.write_blob(b"hello")
    cache.blob_path(digest).write_bytes(b"HELLO")
    with pytest.raises(DistrokitError, match="corrupt"):
        cache.read_blob(digest)


def test_blob_writer_is_atomic(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    with pytest.raises(RuntimeError), cache.blob_writer() as w:
        w.write(b"half")
        raise RuntimeError("interrupted")
    assert list((tmp_path / "blobs" / "sha256").iterdir()) == []
    assert list(cache.tmp.iterdir()) == []
    with cache.blob_writer() as w:
        w.write(b"whole")
    assert cache.read_blob(w.digest) == b"whole"


def test_whiteouts_flatten(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    lower = _layer({"etc": None, "etc/a": b"a", "etc/b": b"b", "opt": None, "opt/x": b"x",
                    "keep": b"old"})
    upper = _layer({"etc": None, "etc/.wh.a": b"", "opt": None, "opt/.wh..wh..opq": b"",
                    "opt/y": b"y", "keep": b"new"})
    _store(cache, "x/y:z", [lower, upper])
    image = Image.open(cache, "x/y:z")
    assert image is not None
    files = {e.path: (e.data.read() if e.data else None) for e in image.entries()
             if e.kind is Kind.FILE}
    assert files == {"etc/b": b"b", "opt/y": b"y", "keep": b"new"}


def test_layer_escaping_root_is_refused(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    _store(cache, "bad/image:1", [_layer({"../evil": b"x"})])
    image = Image.open(cache, "bad/image:1")
    assert image is not None
    with pytest.raises(DistrokitError, match="outside the root"):
        list(image.entries())
