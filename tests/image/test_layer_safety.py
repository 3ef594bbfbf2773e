"""Malicious layers are refused; the links and special files of honest ones survive."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable

import pytest

from distrokit.image import oci
from distrokit.image.layers import flatten
from distrokit.log import DistrokitError
from distrokit.stream import Kind


def tar(*members: tarfile.TarInfo | tuple[str, bytes]) -> Callable[[], io.BytesIO]:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        for m in members:
            if isinstance(m, tuple):
                info = tarfile.TarInfo(m[0])
                info.size = len(m[1])
                t.addfile(info, io.BytesIO(m[1]))
            else:
                t.addfile(m)
    data = raw.getvalue()
    return lambda: io.BytesIO(data)


def member(name: str, kind: bytes, linkname: str = "", **extra: object) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    for key, value in extra.items():
        setattr(info, key, value)
    return info


def paths(*layers: Callable[[], io.BytesIO]) -> list[str]:
    return [e.path for e in flatten([(oci.LAYER_TAR, o) for o in layers], "evil:1")]


@pytest.mark.parametrize("name", ["../etc/passwd", "a/../../b", "./../x"])
def test_paths_outside_the_root(name: str) -> None:
    with pytest.raises(DistrokitError, match=r"evil:1.*outside the root"):
        paths(tar((name, b"x")))


def test_absolute_paths_stay_inside_the_root() -> None:
    # Like tar itself, a leading '/' is dropped: the entry lands below the root.
    assert paths(tar(("/etc/passwd", b"x"))) == ["etc/passwd"]


def test_write_through_a_symlink_is_refused() -> None:
    with pytest.raises(DistrokitError, match=r"evil:1.*'lib/passwd'.*symlink 'lib'"):
        paths(tar(member("lib", tarfile.SYMTYPE, "/etc"), ("lib/passwd", b"root::0:0")))


def test_symlink_over_earlier_entries_is_refused() -> None:
    with pytest.raises(DistrokitError, match=r"evil:1.*'lib' is a symlink"):
        paths(tar(("lib/passwd", b"x"), member("lib", tarfile.SYMTYPE, "/etc")))


def test_symlink_escape_across_layers_is_refused() -> None:
    with pytest.raises(DistrokitError, match=r"goes through the symlink 'x'"):
        paths(tar(member("x", tarfile.SYMTYPE, "../../../etc")), tar(("x/shadow", b"x")))


def test_hardlink_through_a_symlink_is_refused() -> None:
    with pytest.raises(DistrokitError, match="goes through the symlink"):
        paths(tar(member("d", tarfile.SYMTYPE, "/etc"),
                  member("h", tarfile.LNKTYPE, "d/shadow")))
    with pytest.raises(DistrokitError, match="outside the root"):
        paths(tar(member("h", tarfile.LNKTYPE, "../../etc/shadow")))


def test_a_symlink_replacing_a_directory_hides_its_contents() -> None:
    # As in an overlay: the upper layer's symlink hides lower/lib/* (no escape).
    lower = tar(member("lib", tarfile.DIRTYPE), ("lib/a", b"a"))
    upper = tar(member("lib", tarfile.SYMTYPE, "usr/lib"))
    assert paths(lower, upper) == ["lib"]


def test_honest_links_devices_and_xattrs_survive() -> None:
    dev = member("dev/null", tarfile.CHRTYPE, devmajor=1, devminor=3, mode=0o666)
    xattr = member("bin/ping", tarfile.REGTYPE, size=0,
                   pax_headers={"SCHILY.xattr.security.capability": "\x01\x00"})
    entries = list(flatten([(oci.LAYER_TAR, tar(
        member("dev", tarfile.DIRTYPE), dev, member("bin", tarfile.DIRTYPE), xattr,
        member("bin/sh", tarfile.SYMTYPE, "busybox"),
        member("bin/ping6", tarfile.LNKTYPE, "bin/ping")))], "ok:1"))
    by_path = {e.path: e for e in entries}
    assert by_path["dev/null"].kind is Kind.CHAR and by_path["dev/null"].devminor == 3
    assert by_path["bin/sh"].linkname == "busybox"
    assert by_path["bin/ping6"].kind is Kind.HARDLINK
    assert by_path["bin/ping"].xattrs == (("security.capability", b"\x01\x00"),)
