from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from distrokit.debian import control_fields, data_entries
from distrokit.log import DistrokitError
from distrokit.stream import Kind

FILES: dict[str, bytes | str | None] = {
    "usr": None,
    "usr/bin": None,
    "usr/bin/hello": b"#!/bin/sh\necho hello\n",
    "usr/bin/odd": b"x" * 1001,  # odd sizes exercise the ar padding
    "usr/bin/hi": "hello",
}
CONTROL = {"Package": "hello", "Version": "1.0-1", "Architecture": "amd64"}


def contents(deb: Path) -> dict[str, tuple[Kind, bytes | str]]:
    out: dict[str, tuple[Kind, bytes | str]] = {}
    for e in data_entries(deb):
        out[e.path] = (e.kind, e.data.read() if e.data else e.linkname)
    return out


@pytest.mark.parametrize("compression", ["xz", "gz", "zst", "bz2", ""])
def test_data_entries(tmp_path: Path, make_deb: Callable[..., Path], compression: str) -> None:
    deb = make_deb(tmp_path / "hello.deb", CONTROL, FILES, compression)
    assert contents(deb) == {
        "usr": (Kind.DIR, ""),
        "usr/bin": (Kind.DIR, ""),
        "usr/bin/hello": (Kind.FILE, b"#!/bin/sh\necho hello\n"),
        "usr/bin/odd": (Kind.FILE, b"x" * 1001),
        "usr/bin/hi": (Kind.SYMLINK, "hello"),
    }


def test_control_fields(tmp_path: Path, make_deb: Callable[..., Path]) -> None:
    deb = make_deb(tmp_path / "hello.deb", {**CONTROL, "Depends": "libc6 (>= 2.34)"}, FILES)
    fields = control_fields(deb)
    assert fields["Package"] == "hello"
    assert fields["Depends"] == "libc6 (>= 2.34)"


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")
@pytest.mark.parametrize("compression", ["xz", "zstd", "gzip", "none"])
def test_reads_what_dpkg_deb_builds(tmp_path: Path, compression: str) -> None:
    tree = tmp_path / "tree"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN" / "control").write_text(
        "Package: hello\nVersion: 1.0\nArchitecture: amd64\nMaintainer: t <t@t>\n"
        "Description: test\n")
    (tree / "usr" / "bin").mkdir(parents=True)
    (tree / "usr" / "bin" / "hello").write_bytes(b"hello\n")
    (tree / "usr" / "bin" / "hi").symlink_to("hello")
    deb = tmp_path / "hello.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", f"-Z{compression}", "--build",
                    str(tree), str(deb)], check=True, capture_output=True)
    got = contents(deb)
    assert got["usr/bin/hello"] == (Kind.FILE, b"hello\n")
    assert got["usr/bin/hi"] == (Kind.SYMLINK, "hello")
    assert "" not in got
    assert control_fields(deb)["Version"] == "1.0"


def test_not_a_deb(tmp_path: Path) -> None:
    bad = tmp_path / "bad.deb"
    bad.write_bytes(b"PK\x03\x04 not an ar archive")
    with pytest.raises(DistrokitError, match="not a Debian package"):
        list(data_entries(bad))


def test_no_data_member(tmp_path: Path,
                        make_ar: Callable[[list[tuple[str, bytes]]], bytes]) -> None:
    deb = tmp_path / "empty.deb"
    deb.write_bytes(make_ar([("debian-binary", b"2.0\n")]))
    with pytest.raises(DistrokitError, match=r"no data\.tar member"):
        list(data_entries(deb))


def test_truncated(tmp_path: Path, make_deb: Callable[..., Path]) -> None:
    deb = make_deb(tmp_path / "hello.deb", CONTROL, FILES, "xz")
    deb.write_bytes(deb.read_bytes()[:-200])
    with pytest.raises(DistrokitError, match=r"hello\.deb"):
        for entry in data_entries(deb):
            if entry.data:
                entry.data.read()
