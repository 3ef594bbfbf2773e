"""Fixtures for the Debian archive tests: hand-made .debs, a throwaway signing key
and a tiny signed mirror served over HTTP on 127.0.0.1."""

from __future__ import annotations

import hashlib
import http.server
import io
import lzma
import shutil
import subprocess
import tarfile
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import zstandard


def ar_archive(members: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    out.write(b"!<arch>\n")
    for name, data in members:
        header = (f"{name:<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(data):<10}`\n").encode()
        assert len(header) == 60
        out.write(header + data + (b"\n" if len(data) % 2 else b""))
    return out.getvalue()


def tar_bytes(files: dict[str, bytes | str | None]) -> bytes:
    """A tar with './'-prefixed names like dpkg-deb makes: bytes -> file,
    None -> directory, str -> symlink target."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tar:
        root = tarfile.TarInfo("./")
        root.type, root.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(root)
        for name, content in files.items():
            info = tarfile.TarInfo("./" + name)
            if content is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif isinstance(content, str):
                info.type, info.linkname = tarfile.SYMTYPE, content
                tar.addfile(info)
            else:
                info.size, info.mode = len(content), 0o755
                tar.addfile(info, io.BytesIO(content))
    return out.getvalue()


def compress(data: bytes, kind: str) -> bytes:
    if kind == "xz":
        return lzma.compress(data)
    if kind == "gz":
        import gzip
        return gzip.compress(data)
    if kind == "zst":
        return zstandard.ZstdCompressor().compress(data)
    if kind == "bz2":
        import bz2
        return bz2.compress(data)
    return data


def build_deb(path: Path, control: dict[str, str], files: dict[str, bytes | str | None],
              compression: str = "xz") -> Path:
    text = "".join(f"{k}: {v}\n" for k, v in control.items())
    ext = f".{compression}" if compression else ""
    path.write_bytes(ar_archive([
        ("debian-binary", b"2.0\n"),
        ("control.tar.gz", compress(tar_bytes({"control": text.encode()}), "gz")),
        (f"data.tar{ext}", compress(tar_bytes(files), compression)),
    ]))
    return path


@pytest.fixture
def make_deb() -> Callable[..., Path]:
    return build_deb


@pytest.fixture
def make_ar() -> Callable[[list[tuple[str, bytes]]], bytes]:
    return ar_archive


@dataclass
class Signer:
    """A throwaway OpenPGP key: its public keyring and a clearsign function."""

    home: Path
    keyring: Path

    def sign(self, text: str) -> bytes:
        return subprocess.run(
            ["gpg", "--homedir", self.home, "--batch", "--yes", "--clearsign",
             "--digest-algo", "SHA256", "--output", "-"],
            input=text.encode(), capture_output=True, check=True).stdout


@pytest.fixture(scope="session")
def signer() -> Iterator[Signer]:
    if shutil.which("gpg") is None or shutil.which("gpgv") is None:
        pytest.skip("needs gpg and gpgv (apt-get install gnupg gpgv)")
    # Short path: gpg-agent's socket lives in the home directory.
    home = Path(tempfile.mkdtemp(prefix="dk-gpg-"))
    try:
        subprocess.run(["gpg", "--homedir", home, "--batch", "--passphrase", "",
                        "--quick-gen-key", "distrokit test <test@invalid>", "ed25519", "sign",
                        "never"], capture_output=True, check=True)
        keyring = home / "test-keyring.gpg"
        keyring.write_bytes(subprocess.run(["gpg", "--homedir", home, "--export"],
                                           capture_output=True, check=True).stdout)
        yield Signer(home, keyring)
    finally:
        subprocess.run(["gpgconf", "--homedir", home, "--kill", "gpg-agent"],
                       capture_output=True, check=False)
        shutil.rmtree(home, ignore_errors=True)


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        self.server.requests.append(self.path)  # type: ignore[attr-defined]


@dataclass
class Mirror:
    """A Debian mirror in a directory, served on 127.0.0.1; ``requests`` logs paths."""

    root: Path
    url: str
    signer: Signer
    requests: list[str] = field(default_factory=list)

    def publish(self, packages: list[dict[str, Any]], suite: str = "bookworm",
                component: str = "main", codename: str | None = None,
                extra_release: str = "") -> None:
        """Write .debs, Packages.xz and a signed InRelease. Each package is a dict of
        control fields plus optional "files" (its data) and "compression"."""
        paragraphs = []
        for pkg in packages:
            pkg = dict(pkg)
            files = pkg.pop("files", {f"usr/share/doc/{pkg['Package']}/README": b"hi\n"})
            comp = pkg.pop("compression", "xz")
            pkg.setdefault("Version", "1.0")
            pkg.setdefault("Architecture", "amd64")
            rel = f"pool/{component}/{pkg['Package']}_{pkg['Version']}_{pkg['Architecture']}.deb"
            deb = self.root / rel
            deb.parent.mkdir(parents=True, exist_ok=True)
            build_deb(deb, {k: v for k, v in pkg.items()}, files, comp)
            data = deb.read_bytes()
            pkg.update(Filename=rel, Size=str(len(data)), SHA256=hashlib.sha256(data).hexdigest())
            paragraphs.append("".join(f"{k}: {v}\n" for k, v in pkg.items()))
        index = "\n".join(paragraphs).encode()
        dists = self.root / "dists" / suite
        sub = dists / component / "binary-amd64"
        sub.mkdir(parents=True, exist_ok=True)
        xz = lzma.compress(index)
        (sub / "Packages.xz").write_bytes(xz)
        release = (f"Origin: Test\nSuite: {suite}\nCodename: {codename or suite}\n"
                   f"Architectures: amd64\nComponents: {component}\n{extra_release}SHA256:\n"
                   f" {hashlib.sha256(xz).hexdigest()} {len(xz)} "
                   f"{component}/binary-amd64/Packages.xz\n")
        (dists / "InRelease").write_bytes(self.signer.sign(release))


@pytest.fixture
def mirror(tmp_path: Path, signer: Signer) -> Iterator[Mirror]:
    root = tmp_path / "mirror"
    root.mkdir()

    def handler(*args: Any, **kwargs: Any) -> _Handler:
        return _Handler(*args, directory=str(root), **kwargs)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    m = Mirror(root, f"http://127.0.0.1:{server.server_address[1]}/debian", signer)
    server.requests = m.requests  # type: ignore[attr-defined]
    # The mirror URL has a /debian prefix, like the real one: serve root as /debian.
    (root / "debian").symlink_to(".")
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield m
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture(scope="session")
def real_kernel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real bzImage: $DISTROKIT_TEST_KERNEL, else the kernel of packages/kernel,
    built into the user's cache (needs the Debian mirror the first time)."""
    import os

    value = os.environ.get("DISTROKIT_TEST_KERNEL")
    if value:
        if not Path(value).is_file():
            pytest.skip(f"DISTROKIT_TEST_KERNEL={value} is not a file")
        return Path(value)
    from distrokit.image.cache import Cache, default_cache_dir
    from distrokit.image.image import Image
    from distrokit.log import DistrokitError
    from distrokit.pkg.build import build

    cache = Cache(Path(os.environ.get("DISTROKIT_TEST_CACHE") or default_cache_dir()))
    package = Path(__file__).resolve().parents[1] / "packages" / "kernel"
    try:
        image = Image.open(cache, build(package, cache))
    except DistrokitError as exc:
        pytest.skip(f"no kernel: {exc}")
    assert image is not None
    for entry in image.entries():
        if entry.path == "kernel" and entry.data is not None:
            target = tmp_path_factory.mktemp("kernel") / "vmlinuz"
            target.write_bytes(entry.data.read())
            return target
    pytest.fail("packages/kernel has no /kernel")
