"""Pull and push against a real registry (docker-registry on 127.0.0.1), with
skopeo as an independent peer."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from registry_helpers import PASSWORD, USER, RegistryServer, layer, store_image, store_index

from distrokit.image.auth import Credentials, CredentialStore
from distrokit.image.cache import Cache
from distrokit.image.image import Image
from distrokit.image.registry import RegistryOptions
from distrokit.image.transfer import Session, pull, push
from distrokit.log import DistrokitError

CREDS = {"": Credentials(USER, PASSWORD)}


def session(server: RegistryServer | None = None, creds: bool = False,
            **options: object) -> Session:
    explicit = {server.host: Credentials(USER, PASSWORD)} if (creds and server) else {}
    return Session(RegistryOptions(creds=CredentialStore(explicit, Path("/nonexistent")),
                                   backoff=0.01, **options))  # type: ignore[arg-type]


def files_of(cache: Cache, ref: str, arch: str = "amd64") -> dict[str, bytes]:
    image = Image.open(cache, ref, arch)
    assert image is not None
    return {e.path: e.data.read() if e.data else b"" for e in image.entries()}


def distrokit(*args: str, cache: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "distrokit", "--cache", str(cache), *args],
                            capture_output=True, text=True, timeout=300)
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_anonymous_push_pull_round_trip(registries: dict[str, RegistryServer], tmp_path: Path,
                                        compression: str) -> None:
    server = registries["none"]
    src = Cache(tmp_path / "src")
    ref = f"{server.host}/round/{compression}:1"
    store_image(src, ref, [layer({"etc/": None, "etc/a": b"A" * 5000}, compression),
                           layer({"etc/b": b"B", "usr/x": b"x" * 70000}, compression)],
                compression=compression)
    digest = push(src, ref, session())
    dst = Cache(tmp_path / "dst")
    desc = pull(dst, ref, session())
    assert desc["digest"] == digest
    assert files_of(dst, ref) == files_of(src, ref)
    assert files_of(dst, ref)["etc/a"] == b"A" * 5000


def test_basic_auth(registries: dict[str, RegistryServer], tmp_path: Path,
                    monkeypatch: pytest.MonkeyPatch) -> None:
    server = registries["basic"]
    src = Cache(tmp_path / "src")
    ref = f"{server.host}/private/app:v1"
    store_image(src, ref, [layer({"secret": b"s3cret"})])
    with pytest.raises(DistrokitError, match="user name and password"):
        push(src, ref, session(server))
    # Chunked uploads (PATCH) with a tiny chunk size.
    push(src, ref, session(server, creds=True, chunk_size=100))
    # Credentials from ~/.docker/config.json, as docker login writes them.
    import base64
    config = tmp_path / "docker"
    config.mkdir()
    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    (config / "config.json").write_text(json.dumps({"auths": {server.host: {"auth": auth}}}))
    store = CredentialStore({}, config / "config.json")
    dst = Cache(tmp_path / "dst")
    pull(dst, ref, Session(RegistryOptions(creds=store)))
    assert files_of(dst, ref) == {"secret": b"s3cret"}
    # ... and from the environment, through the command line.
    monkeypatch.setenv("DISTROKIT_REGISTRY_USER", USER)
    monkeypatch.setenv("DISTROKIT_REGISTRY_PASSWORD", PASSWORD)
    distrokit("cache", "pull", ref, cache=tmp_path / "env")
    monkeypatch.setenv("DISTROKIT_REGISTRY_PASSWORD", "wrong")
    bad = distrokit("cache", "pull", ref, cache=tmp_path / "bad", check=False)
    assert bad.returncode == 1 and "denied" in bad.stderr and "Traceback" not in bad.stderr


def test_bearer_token(registries: dict[str, RegistryServer], tmp_path: Path) -> None:
    server = registries["token"]
    src = Cache(tmp_path / "src")
    ref = f"{server.host}/team/tool:2"
    store_image(src, ref, [layer({"bin/tool": b"#!/bin/sh\n"})])
    with pytest.raises(DistrokitError, match=r"user name and password|refused"):
        push(src, ref, session(server))
    push(src, ref, session(server, creds=True))
    # A second repository: the layer is mounted across repositories.
    push(src, ref, session(server, creds=True), f"{server.host}/team/copy:2")
    result = distrokit("cache", "pull", f"{server.host}/team/copy:2", "--registry-creds",
                       f"{server.host}={USER}:{PASSWORD}", cache=tmp_path / "dst")
    assert result.returncode == 0
    assert files_of(Cache(tmp_path / "dst"), f"{server.host}/team/copy:2") == {
        "bin/tool": b"#!/bin/sh\n"}


def test_multi_arch_index(registries: dict[str, RegistryServer], tmp_path: Path,
                          skopeo: str) -> None:
    server = registries["none"]
    src = Cache(tmp_path / "src")
    ref = f"{server.host}/multi/arch:1"
    store_index(src, ref, {"amd64": [layer({"arch": b"amd64"})],
                           "arm64": [layer({"arch": b"arm64"})]})
    push(src, ref, session())
    raw = subprocess.run([skopeo, "inspect", "--raw", "--tls-verify=false", f"docker://{ref}"],
                         capture_output=True, text=True, check=True).stdout
    index = json.loads(raw)
    assert sorted(m["platform"]["architecture"] for m in index["manifests"]) == [
        "amd64", "arm64"]
    dst = Cache(tmp_path / "dst")
    pull(dst, ref, session(), arch="arm64")
    assert files_of(dst, ref, "arm64") == {"arch": b"arm64"}
    # Only the arm64 platform is stored.
    amd64 = next(m for m in index["manifests"] if m["platform"]["architecture"] == "amd64")
    assert not dst.has_blob(amd64["digest"])
    with pytest.raises(DistrokitError, match="no linux/s390x variant"):
        pull(Cache(tmp_path / "none"), ref, session(), arch="s390x")


def test_skopeo_reads_what_we_push(registries: dict[str, RegistryServer], tmp_path: Path,
                                   skopeo: str) -> None:
    server = registries["none"]
    src = Cache(tmp_path / "src")
    ref = f"{server.host}/ours/img:3"
    store_image(src, ref, [layer({"hello": b"world"})])
    distrokit("cache", "push", f"{server.host}/ours/img:3", cache=tmp_path / "src")
    inspect = json.loads(subprocess.run(
        [skopeo, "inspect", "--tls-verify=false", f"docker://{ref}"],
        capture_output=True, text=True, check=True).stdout)
    assert inspect["Architecture"] == "amd64" and len(inspect["Layers"]) == 1
    subprocess.run([skopeo, "copy", "--src-tls-verify=false", f"docker://{ref}",
                    f"oci:{tmp_path / 'copy'}:img"], capture_output=True, check=True)
    # The copy is a plain OCI layout: import it back under another name.
    index = json.loads((tmp_path / "copy/index.json").read_text())
    assert index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == "img"


@pytest.mark.parametrize("fmt", ["oci", "v2s2"])
def test_we_pull_what_skopeo_pushes(registries: dict[str, RegistryServer], tmp_path: Path,
                                    skopeo: str, fmt: str) -> None:
    server = registries["token"]
    src = Cache(tmp_path / "src")
    store_image(src, "local/thing:1", [layer({"a": b"1"}), layer({"b": b"2", "a": b"3"})])
    ref = f"{server.host}/theirs/{fmt}:1"
    subprocess.run([skopeo, "copy", "--dest-tls-verify=false", "--format", fmt,
                    "--dest-creds", f"{USER}:{PASSWORD}",
                    f"oci:{tmp_path / 'src'}:docker.io/local/thing:1", f"docker://{ref}"],
                   capture_output=True, check=True)
    dst = Cache(tmp_path / "dst")
    pull(dst, ref, session(server, creds=True))
    assert files_of(dst, ref) == {"a": b"3", "b": b"2"}


def test_tampered_blob_is_refused(registries: dict[str, RegistryServer], tmp_path: Path) -> None:
    server = registries["none"]
    src = Cache(tmp_path / "src")
    ref = f"{server.host}/tamper/me:1"
    good = layer({"file": os.urandom(4096)})
    store_image(src, ref, [good])
    push(src, ref, session())
    digest = "sha256:" + __import__("hashlib").sha256(good).hexdigest()
    data = server.blob_data(digest)
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    data.write_bytes(bytes(raw))
    dst = Cache(tmp_path / "dst")
    with pytest.raises(DistrokitError, match="does not match its digest"):
        pull(dst, ref, session())
    assert not dst.has_blob(digest)
    assert dst.lookup(ref) is None
    assert list(dst.tmp.iterdir()) == []


class SlowProxy:
    """A TCP forwarder on 127.0.0.1 that passes at most RATE bytes a second."""

    def __init__(self, target: str, rate: int) -> None:
        host, port = target.split(":")
        self.target = (host, int(port))
        self.rate = rate
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.host = f"127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            threading.Thread(target=self._pipe, args=(client, upstream, 0), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, self.rate),
                             daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, rate: int) -> None:
        try:
            while data := src.recv(16384):
                dst.sendall(data)
                if rate:
                    time.sleep(len(data) / rate)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                s.close()

    def close(self) -> None:
        self.sock.close()


def test_killed_pull_leaves_a_clean_cache(registries: dict[str, RegistryServer],
                                          tmp_path: Path) -> None:
    server = registries["none"]
    src = Cache(tmp_path / "src")
    ref = f"{server.host}/big/one:1"
    store_image(src, ref, [layer({"small": b"s"}), layer({"big": os.urandom(6 << 20)})])
    push(src, ref, session())
    proxy = SlowProxy(server.host, rate=2 << 20)
    try:
        via = f"{proxy.host}/big/one:1"
        cache = tmp_path / "cache"
        proc = subprocess.Popen([sys.executable, "-m", "distrokit", "--cache", str(cache),
                                 "cache", "pull", via], stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not any(p.stat().st_size > (1 << 20) for p in (cache / "tmp").glob("blob-*")):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        result = distrokit("cache", "verify", cache=cache)
        assert "every blob matches" in result.stderr
        assert Cache(cache).lookup(via) is None
        distrokit("cache", "pull", via, cache=cache)
        assert files_of(Cache(cache), via)["big"] == files_of(src, ref)["big"]
        distrokit("cache", "clean", cache=cache)
        assert list((cache / "tmp").iterdir()) == []
    finally:
        proxy.close()


def test_two_pulls_share_one_cache(registries: dict[str, RegistryServer], tmp_path: Path) -> None:
    server = registries["none"]
    src = Cache(tmp_path / "src")
    refs = [f"{server.host}/shared/{n}:1" for n in ("a", "b")]
    common = layer({"common": os.urandom(1 << 20)})
    for n, ref in enumerate(refs):
        store_image(src, ref, [common, layer({"own": bytes([n]) * 1000})])
        push(src, ref, session())
    cache = tmp_path / "cache"
    procs = [subprocess.Popen([sys.executable, "-m", "distrokit", "--cache", str(cache),
                               "cache", "pull", *refs], stderr=subprocess.PIPE)
             for _ in range(2)]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    distrokit("cache", "verify", cache=cache)
    shared = Cache(cache)
    assert {files_of(shared, r)["own"][:1] for r in refs} == {b"\0", b"\1"}


def test_mirror(registries: dict[str, RegistryServer], tmp_path: Path) -> None:
    server = registries["none"]
    src = Cache(tmp_path / "src")
    store_image(src, f"{server.host}/library/mirrored:1", [layer({"m": b"m"})])
    push(src, f"{server.host}/library/mirrored:1", session())
    distrokit("cache", "pull", "mirrored:1", "--mirror", f"docker.io=http://{server.host}",
              cache=tmp_path / "dst")
    assert files_of(Cache(tmp_path / "dst"), "docker.io/library/mirrored:1") == {"m": b"m"}


def test_build_pulls_missing_images(registries: dict[str, RegistryServer],
                                    tmp_path: Path) -> None:
    from distrokit.build import image_loader

    server = registries["none"]
    src = Cache(tmp_path / "src")
    ref = f"{server.host}/build/input:1"
    store_image(src, ref, [layer({"x": b"1"})])
    push(src, ref, session())
    cache = Cache(tmp_path / "dst")
    load = image_loader(cache, session())
    assert [e.path for e in load(ref).entries()] == ["x"]  # type: ignore[operator]
    # Offline (no session) the cached image is enough.
    assert image_loader(cache)(ref).ref == ref  # type: ignore[operator]
    with pytest.raises(DistrokitError, match="cannot be pulled"):
        image_loader(cache, session())(f"{server.host}/build/missing:1")  # type: ignore[operator]


def test_export_import(registries: dict[str, RegistryServer], tmp_path: Path,
                       skopeo: str) -> None:
    cache = tmp_path / "c"
    store_image(Cache(cache), "distrokit/exp:1", [layer({"d/": None, "d/f": b"F"})])
    distrokit("cache", "export", "distrokit/exp:1", "-o", str(tmp_path / "oci.tar"), cache=cache)
    distrokit("cache", "export", "distrokit/exp:1", "--format", "docker",
              "-o", str(tmp_path / "docker.tar"), cache=cache)
    fs = subprocess.run([sys.executable, "-m", "distrokit", "--cache", str(cache), "cache",
                         "export", "distrokit/exp:1", "--format", "filesystem", "-o", "-"],
                        capture_output=True, check=True).stdout
    assert b"d/f" in fs
    inspect = json.loads(subprocess.run(
        [skopeo, "inspect", f"docker-archive:{tmp_path / 'docker.tar'}"],
        capture_output=True, text=True, check=True).stdout)
    assert inspect["Architecture"] == "amd64" and len(inspect["Layers"]) == 1
    out = distrokit("cache", "import", str(tmp_path / "oci.tar"), cache=tmp_path / "i1").stdout
    assert out.strip() == "docker.io/distrokit/exp:1"
    out = distrokit("cache", "import", str(tmp_path / "docker.tar"), "--name", "x/y:2",
                    cache=tmp_path / "i2").stdout
    assert files_of(Cache(tmp_path / "i2"), "x/y:2") == {"d": b"", "d/f": b"F"}
    listing = distrokit("cache", "ls", cache=tmp_path / "i1").stdout
    assert "docker.io/distrokit/exp:1" in listing


def test_verify_and_clean(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "c")
    good = layer({"a": b"a"})
    store_image(cache, "x/good:1", [good])
    store_image(cache, "x/bad:1", [layer({"b": b"b"})])
    bad = Image.open(cache, "x/bad:1")
    assert bad is not None
    cache.blob_path(bad.manifest["layers"][0]["digest"]).write_bytes(b"rotten")
    result = distrokit("cache", "verify", cache=tmp_path / "c", check=False)
    assert result.returncode == 1
    assert "corrupt blob removed" in result.stdout and "docker.io/x/bad:1" in result.stdout
    assert Cache(tmp_path / "c").lookup("x/bad:1") is None
    assert Cache(tmp_path / "c").lookup("x/good:1") is not None
    distrokit("cache", "rm", "x/good:1", cache=tmp_path / "c")
    del cache, bad  # its lock would keep 'cache clean' out
    distrokit("cache", "clean", cache=tmp_path / "c")
    assert Cache(tmp_path / "c").blob_digests() == []
