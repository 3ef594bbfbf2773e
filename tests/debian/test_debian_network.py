"""Against the real Debian mirror (bookworm + bookworm-security)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from distrokit.debian import Archive, data_entries, default_repos
from distrokit.debian.index import compare
from distrokit.stream import Kind

pytestmark = pytest.mark.network


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("debian-cache")


def test_resolve_runc_and_busybox(cache: Path) -> None:
    packages = Archive(default_repos(), "amd64", cache).resolve(["runc", "busybox-static"])
    by_name = {p.name: p for p in packages}
    assert {"runc", "busybox-static", "libc6", "libseccomp2"} <= set(by_name)
    assert [p.name for p in packages] == sorted(by_name)
    assert all(p.architecture in ("amd64", "all") for p in packages)


def test_warm_resolve_is_fast(cache: Path) -> None:
    names = ["containerd", "runc", "busybox-static"]
    Archive(default_repos(), "amd64", cache).resolve(names)
    start = time.monotonic()
    Archive(default_repos(), "amd64", cache).resolve(names)
    assert time.monotonic() - start < 1.0


def test_highest_version_across_suites(cache: Path) -> None:
    archive = Archive(default_repos(), "amd64", cache)
    archive.resolve(["openssl"])
    pool = archive._packages([archive._inrelease(r) for r in archive.repos])
    for pkg in archive.resolve(["openssl"]):
        assert all(compare(pkg.version, c.version) >= 0 for c in pool.by_name[pkg.name])


def test_fetch_and_extract_runc(cache: Path) -> None:
    archive = Archive(default_repos(), "amd64", cache)
    runc = next(p for p in archive.resolve(["runc"]) if p.name == "runc")
    deb = archive.fetch(runc)
    assert deb.stat().st_size == runc.size
    found = {e.path: (e.kind, e.data.read(4) if e.data else b"") for e in data_entries(deb)}
    assert found["usr/sbin/runc"] == (Kind.FILE, b"\x7fELF")
