"""pkg build against a small signed Debian mirror on 127.0.0.1."""

import io
import json
import shutil
import tarfile
from pathlib import Path

import pytest
import zstandard

from distrokit.image.cache import Cache
from distrokit.image.image import Image
from distrokit.log import DistrokitError
from distrokit.pkg.build import build, show_tag
from distrokit.stream import Kind

PACKAGES = [
    {"Package": "hello", "Version": "2.0", "Depends": "libhello (>= 1)",
     "files": {"usr": None, "usr/bin": None, "usr/bin/hello": b"#!/bin/sh\necho hi\n",
               "usr/share": None, "usr/share/doc": None, "usr/share/doc/hello": None,
               "usr/share/doc/hello/README": b"docs"}},
    {"Package": "libhello", "Version": "1.5",
     "files": {"lib": None, "lib/libhello.so.1": b"\x7fELF...", "etc": None,
               "etc/hello.conf": b"x=1\n"}},
]


@pytest.fixture
def setup(mirror, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    mirror.publish(PACKAGES)
    mirror.publish([], suite="bookworm-security")
    monkeypatch.setenv("DISTROKIT_DEBIAN_MIRROR", mirror.url)
    monkeypatch.setenv("DISTROKIT_DEBIAN_SECURITY_MIRROR", mirror.url)
    monkeypatch.setenv("DISTROKIT_DEBIAN_KEYRING", str(mirror.signer.keyring))
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    pkg = tmp_path / "pkg"
    (pkg / "scripts").mkdir(parents=True)
    (pkg / "scripts" / "run.sh").write_text("#!/bin/sh\nexec hello\n")
    (pkg / "scripts" / "run.sh").chmod(0o755)
    (pkg / "build.yml").write_text(
        "image: hello\n"
        "debian:\n  packages: [hello]\n"
        "files:\n"
        "  - {source: scripts, path: /opt/scripts}\n"
        "  - {path: /etc/motd, contents: \"hello\\n\", mode: \"0600\"}\n"
        "  - {path: /bin/hi, symlink: /usr/bin/hello}\n"
        "  - {path: /var/empty, directory: true}\n"
        "entrypoint: [/opt/scripts/run.sh]\n"
        "config: {readonly: true, capabilities: [CAP_NET_ADMIN]}\n"
    )
    return pkg, Cache(tmp_path / "cache"), mirror


def _files(image: Image) -> dict[str, tuple[Kind, int, bytes | str]]:
    return {e.path: (e.kind, e.mode, e.data.read() if e.data else e.linkname)
            for e in image.entries()}


def test_build_lays_out_debs_and_files(setup) -> None:  # type: ignore[no-untyped-def]
    pkg, cache, _ = setup
    ref = build(pkg, cache)
    assert ref.startswith("distrokit/hello:")
    image = Image.open(cache, ref)
    assert image is not None
    files = _files(image)
    assert files["usr/bin/hello"][2] == b"#!/bin/sh\necho hi\n"
    assert files["lib/libhello.so.1"][0] is Kind.FILE  # the dependency came along
    assert "usr/share/doc/hello/README" not in files  # docs dropped by default
    assert files["opt/scripts/run.sh"][1] == 0o755
    assert files["etc/motd"][1:] == (0o600, b"hello\n")
    assert files["bin/hi"][0:3:2] == (Kind.SYMLINK, "/usr/bin/hello")
    assert files["var/empty"][0] is Kind.DIR
    assert image.label == {"capabilities": ["CAP_NET_ADMIN"], "readonly": True}
    assert image.runtime_config["Entrypoint"] == ["/opt/scripts/run.sh"]
    # Every entry root-owned, at the fixed mtime, parents before children.
    entries = list(image.entries())
    assert all(e.uid == 0 and e.gid == 0 and e.mtime == 0 for e in entries)
    seen: set[str] = set()
    for e in entries:
        parent = e.path.rpartition("/")[0]
        assert not parent or parent in seen
        seen.add(e.path)


def test_build_is_deterministic_and_cached(setup) -> None:  # type: ignore[no-untyped-def]
    pkg, cache, mirror = setup
    ref = build(pkg, cache)
    first = cache.lookup(ref)
    assert first is not None
    mirror.requests.clear()
    assert build(pkg, cache) == ref  # a cached tag is not rebuilt: no downloads
    assert not [r for r in mirror.requests if r.endswith(".deb")]
    assert build(pkg, cache, force=True) == ref
    assert cache.lookup(ref) == first  # same bytes, same digest
    assert show_tag(pkg, cache) == ref


def test_tag_changes_with_files_and_versions(setup) -> None:  # type: ignore[no-untyped-def]
    pkg, cache, mirror = setup
    ref = show_tag(pkg, cache)
    (pkg / "scripts" / "run.sh").write_text("#!/bin/sh\nexec hello --loud\n")
    changed = show_tag(pkg, cache)
    assert changed != ref
    mirror.publish([PACKAGES[0], {**PACKAGES[1], "Version": "1.6"}])
    # A new Debian version shows up once the indexes are refreshed.
    from distrokit.pkg.build import resolve
    assert resolve(pkg, cache, refresh=True).ref != changed


def test_keep_filters_debian_contents(setup) -> None:  # type: ignore[no-untyped-def]
    pkg, cache, _ = setup
    (pkg / "build.yml").write_text(
        "image: hello\ndebian:\n  packages: [hello]\n  keep: [usr/bin/hello]\n")
    image = Image.open(cache, build(pkg, cache))
    assert image is not None
    assert sorted(_files(image)) == ["usr", "usr/bin", "usr/bin/hello"]


def test_layer_is_zstd_tar(setup) -> None:  # type: ignore[no-untyped-def]
    pkg, cache, _ = setup
    image = Image.open(cache, build(pkg, cache))
    assert image is not None
    layer = image.manifest["layers"][0]
    assert layer["mediaType"] == "application/vnd.oci.image.layer.v1.tar+zstd"
    blob = io.BytesIO(cache.read_blob(layer["digest"]))
    raw = zstandard.ZstdDecompressor().stream_reader(blob).read()
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        assert all(m.uname == "" and m.gname == "" for m in tar.getmembers())
    config = json.loads(cache.read_blob(image.manifest["config"]["digest"]))
    import hashlib
    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(raw).hexdigest()]


@pytest.mark.skipif(shutil.which("busybox") is None, reason="needs busybox-static")
def test_busybox_applets(setup) -> None:  # type: ignore[no-untyped-def]
    pkg, cache, mirror = setup
    busybox = Path(shutil.which("busybox") or "").read_bytes()
    mirror.publish([{"Package": "busybox-static", "Version": "1",
                     "files": {"bin": None, "bin/busybox": busybox}}])
    (pkg / "build.yml").write_text("image: bb\ndebian:\n  packages: [busybox-static]\n"
                                   "busybox-applets: bin/busybox\n")
    image = Image.open(cache, build(pkg, cache))
    assert image is not None
    files = _files(image)
    assert files["bin/sh"] == (Kind.SYMLINK, 0o777, "/bin/busybox")
    assert files["sbin/switch_root"][0] is Kind.SYMLINK


def test_unknown_debian_package(setup) -> None:  # type: ignore[no-untyped-def]
    pkg, cache, _ = setup
    (pkg / "build.yml").write_text("image: x\ndebian:\n  packages: [nope]\n")
    with pytest.raises(DistrokitError, match="'nope' not found"):
        build(pkg, cache)
    assert cache.names() == {}


def test_source_outside_package_is_refused(setup) -> None:  # type: ignore[no-untyped-def]
    pkg, cache, _ = setup
    (pkg / "build.yml").write_text("image: x\nfiles:\n  - {source: ../../etc, path: /x}\n")
    with pytest.raises(DistrokitError, match="outside the package directory"):
        build(pkg, cache)
