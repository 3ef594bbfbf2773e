"""The archive client against a signed mirror served on 127.0.0.1."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest

from distrokit.debian import Archive, Repo, data_entries, default_repos
from distrokit.debian.archive import verify_inrelease
from distrokit.log import DistrokitError

PACKAGES: list[dict[str, Any]] = [
    {"Package": "app", "Depends": "libfoo (>= 1.0), sh | dash"},
    {"Package": "libfoo", "Version": "1.2", "files": {"usr/lib/libfoo.so.1": b"\x7fELF"},
     "compression": "zst"},
    {"Package": "dash", "Provides": "sh", "Architecture": "all"},
]


def archive(m: Any, cache: Path, **kwargs: Any) -> Archive:
    return Archive([Repo(m.url, "bookworm")], "amd64", cache, keyring=m.signer.keyring,
                   **kwargs)


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def cache_files(cache: Path) -> list[str]:
    return sorted(str(p.relative_to(cache)) for p in cache.rglob("*") if p.is_file())


def test_resolve_fetch_extract(mirror: Any, cache: Path) -> None:
    mirror.publish(PACKAGES)
    a = archive(mirror, cache)
    packages = a.resolve(["app"])
    assert [(p.name, p.version) for p in packages] == [
        ("app", "1.0"), ("dash", "1.0"), ("libfoo", "1.2")]
    libfoo = packages[2]
    deb = a.fetch(libfoo)
    assert deb == cache / "debs" / f"{libfoo.sha256}.deb"
    files = {e.path: e.data.read() for e in data_entries(deb) if e.data}
    assert files == {"usr/lib/libfoo.so.1": b"\x7fELF"}
    # A cache hit is never downloaded again.
    count = len(mirror.requests)
    assert a.fetch(libfoo) == deb
    assert len(mirror.requests) == count


def test_warm_cache_needs_no_network(mirror: Any, cache: Path) -> None:
    mirror.publish(PACKAGES)
    first = archive(mirror, cache).resolve(["app"])
    mirror.requests.clear()
    assert archive(mirror, cache).resolve(["app"]) == first
    assert archive(mirror, cache).resolve(["libfoo"])  # new request: parsed index reused
    assert mirror.requests == []
    # An expired TTL or refresh=True fetches the InRelease again, and only it when unchanged.
    archive(mirror, cache, ttl=0).resolve(["app"])
    archive(mirror, cache, refresh=True).resolve(["app"])
    assert mirror.requests == ["/debian/dists/bookworm/InRelease"] * 2


def test_new_index_is_picked_up(mirror: Any, cache: Path) -> None:
    mirror.publish(PACKAGES)
    assert archive(mirror, cache).resolve(["libfoo"])[0].version == "1.2"
    mirror.publish([*PACKAGES[:1], {**PACKAGES[1], "Version": "1.3"}, PACKAGES[2]])
    assert archive(mirror, cache).resolve(["libfoo"])[0].version == "1.2"  # within TTL
    assert archive(mirror, cache, refresh=True).resolve(["libfoo"])[0].version == "1.3"
    # The replaced Packages file and its parsed form are gone.
    assert len(list((cache / "indexes").iterdir())) == 2


def test_missing_suite(mirror: Any, cache: Path) -> None:
    mirror.publish(PACKAGES)
    a = Archive([Repo(mirror.url, "sid")], "amd64", cache, keyring=mirror.signer.keyring)
    wanted = f"no InRelease for suite sid at {re.escape(mirror.url)}/"
    with pytest.raises(DistrokitError, match=wanted):
        a.resolve(["app"])


def test_unreachable_mirror(signer: Any, cache: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    url = f"http://127.0.0.1:{port}/debian"
    a = Archive([Repo(url, "bookworm")], "amd64", cache, keyring=signer.keyring)
    wanted = f"cannot reach {re.escape(url)}/dists/bookworm/InRelease: "
    with pytest.raises(DistrokitError, match=wanted):
        a.resolve(["app"])


class _Refusing(httpx.BaseTransport):
    """Every host refuses the connection: the machine is offline."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)


def test_offline_falls_back_to_stale_cache(mirror: Any, cache: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    mirror.publish(PACKAGES)
    expected = archive(mirror, cache).resolve(["app"])
    stale = archive(mirror, cache, ttl=0)
    stale._client = httpx.Client(transport=_Refusing())
    assert stale.resolve(["app"]) == expected
    assert "using the cached index of bookworm" in capsys.readouterr().err
    # An explicit refresh does not settle for the stale index.
    refreshing = archive(mirror, cache, refresh=True)
    refreshing._client = httpx.Client(transport=_Refusing())
    with pytest.raises(DistrokitError, match=r"cannot reach .*Connection refused"):
        refreshing.resolve(["app"])


def test_tampered_inrelease(mirror: Any, cache: Path) -> None:
    mirror.publish(PACKAGES)
    inrelease = mirror.root / "dists" / "bookworm" / "InRelease"
    inrelease.write_bytes(inrelease.read_bytes().replace(b"Origin: Test", b"Origin: Evil"))
    with pytest.raises(DistrokitError, match=r"^InRelease of bookworm: bad signature \(gpgv: "):
        archive(mirror, cache).resolve(["app"])
    assert not (cache / "lists").exists() or cache_files(cache) == []


def test_unknown_key(mirror: Any, tmp_path: Path) -> None:
    mirror.publish(PACKAGES)
    other = tmp_path / "empty.gpg"
    other.write_bytes(b"")
    with pytest.raises(DistrokitError, match=r"bad signature \(gpgv: Can't check signature"):
        verify_inrelease((mirror.root / "dists/bookworm/InRelease").read_bytes(), other,
                         "bookworm")


def test_missing_keyring(mirror: Any, tmp_path: Path, cache: Path) -> None:
    mirror.publish(PACKAGES)
    a = Archive([Repo(mirror.url, "bookworm")], "amd64", cache, keyring=tmp_path / "no.gpg")
    with pytest.raises(DistrokitError, match=r"keyring .*no\.gpg not found"):
        a.resolve(["app"])


def test_wrong_suite(mirror: Any, cache: Path) -> None:
    mirror.publish(PACKAGES, codename="bullseye", suite="bookworm")
    (mirror.root / "dists" / "bookworm" / "InRelease").write_bytes(mirror.signer.sign(
        "Suite: oldstable\nCodename: bullseye\nSHA256:\n"))
    with pytest.raises(DistrokitError, match=r"InRelease of bookworm .* is for suite bullseye"):
        archive(mirror, cache).resolve(["app"])


def test_expired_release(mirror: Any, cache: Path) -> None:
    mirror.publish(PACKAGES, extra_release="Valid-Until: Sat, 01 Jan 2000 00:00:00 UTC\n")
    with pytest.raises(DistrokitError, match="InRelease of bookworm expired on Sat, 01 Jan 2000"):
        archive(mirror, cache).resolve(["app"])


def test_packages_hash_mismatch(mirror: Any, cache: Path) -> None:
    mirror.publish(PACKAGES)
    packages = mirror.root / "dists" / "bookworm" / "main" / "binary-amd64" / "Packages.xz"
    data = bytearray(packages.read_bytes())
    data[-20] ^= 0xFF
    packages.write_bytes(bytes(data))
    with pytest.raises(DistrokitError, match=r"Packages\.xz: SHA256 mismatch"):
        archive(mirror, cache).resolve(["app"])
    assert [f for f in cache_files(cache) if "indexes" in f] == []


def test_deb_hash_mismatch_leaves_nothing(mirror: Any, cache: Path) -> None:
    mirror.publish(PACKAGES)
    a = archive(mirror, cache)
    libfoo = next(p for p in a.resolve(["app"]) if p.name == "libfoo")
    deb = mirror.root / libfoo.filename
    deb.write_bytes(deb.read_bytes()[:-1] + b"X")  # same size, other content
    with pytest.raises(DistrokitError, match=f"{re.escape(libfoo.url)}: SHA256 mismatch"):
        a.fetch(libfoo)
    assert not (cache / "debs").exists() or \
        list((cache / "debs").iterdir()) == []


def test_unknown_package(mirror: Any, cache: Path) -> None:
    mirror.publish(PACKAGES)
    with pytest.raises(DistrokitError) as e:
        archive(mirror, cache).resolve(["foo"])
    assert str(e.value) == "Debian package 'foo' not found in bookworm main (amd64)"


def test_default_repos(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISTROKIT_DEBIAN_SECURITY_MIRROR", raising=False)
    monkeypatch.setenv("DISTROKIT_DEBIAN_MIRROR", "http://mirror.example/debian")
    assert default_repos() == [
        Repo("http://mirror.example/debian", "bookworm", ("main",)),
        Repo("http://deb.debian.org/debian-security", "bookworm-security", ("main",)),
    ]
