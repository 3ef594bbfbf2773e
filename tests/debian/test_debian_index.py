from __future__ import annotations

import pytest

from distrokit.debian.index import (
    Relation,
    parse_packages,
    parse_relations,
    parse_release,
    satisfies,
)
from distrokit.log import DistrokitError

PACKAGES = """\
Package: runc
Version: 1.1.5+ds1-1
Installed-Size: 30000
Maintainer: Debian Go Packaging Team <team+pkg-go@tracker.debian.org>
Architecture: amd64
Depends: libc6 (>= 2.34), libseccomp2 (>= 2.5.0)
Recommends: criu
Description: Open Container Project - runtime
 runc is a CLI tool for spawning and running containers according to the OCI
 Package: this continuation line is not a field
Filename: pool/main/r/runc/runc_1.1.5+ds1-1_amd64.deb
Size: 2709960
SHA256: a00351f8c0318de0b424ecf5cd0fdb69880a89f3511cae4f6fff7de3e57881c5

Package: mawk
Version: 1.3.4.20200120-3.1
Architecture: amd64
Multi-Arch: foreign
Pre-Depends: libc6 (>= 2.34)
Provides: awk
Filename: pool/main/m/mawk/mawk.deb
Size: 10
SHA256: 00
"""


def test_parse_packages_keeps_needed_fields() -> None:
    runc, mawk = parse_packages(PACKAGES)
    assert runc.package == "runc"
    assert runc.version == "1.1.5+ds1-1"
    assert runc.depends == "libc6 (>= 2.34), libseccomp2 (>= 2.5.0)"
    assert runc.pre_depends == "" and runc.provides == ""
    assert runc.size == "2709960"
    assert runc.filename == "pool/main/r/runc/runc_1.1.5+ds1-1_amd64.deb"
    assert mawk.pre_depends == "libc6 (>= 2.34)"
    assert mawk.provides == "awk"
    assert mawk.multi_arch == "foreign"


def test_parse_packages_tolerates_blank_runs() -> None:
    assert [s.package for s in parse_packages("\n\n" + PACKAGES + "\n\n\n")] == ["runc", "mawk"]


def test_parse_release() -> None:
    release = parse_release(
        "Origin: Debian\nSuite: stable\nCodename: bookworm\nMD5Sum:\n"
        " d41d8cd98f00b204e9800998ecf8427e 0 main/binary-amd64/Packages\n"
        "SHA256:\n"
        " AB12 123 main/binary-amd64/Packages.xz\n"
        " cd34 45 main/binary-amd64/Packages.gz\n"
        "Acquire-By-Hash: yes\n")
    assert release.fields["Codename"] == "bookworm"
    assert release.fields["Acquire-By-Hash"] == "yes"
    assert release.sha256 == {
        "main/binary-amd64/Packages.xz": ("ab12", 123),
        "main/binary-amd64/Packages.gz": ("cd34", 45),
    }


def test_parse_relations() -> None:
    assert parse_relations(
        "libc6 (>= 2.34), default-mta | mail-transport-agent,python3:any (<< 3.12),"
        " foo:amd64 [amd64] <!nocheck>, bar (> 1)") == [
        [Relation("libc6", "", ">=", "2.34")],
        [Relation("default-mta"), Relation("mail-transport-agent")],
        [Relation("python3", "any", "<<", "3.12")],
        [Relation("foo", "amd64")],
        [Relation("bar", "", ">=", "1")],  # obsolete '>' means '>='
    ]
    assert parse_relations("") == []
    assert str(Relation("python3", "any", "<<", "3.12")) == "python3:any (<< 3.12)"


def test_bad_relation() -> None:
    with pytest.raises(DistrokitError, match="bad Debian package relation: 'Foo Bar'"):
        parse_relations("Foo Bar")


@pytest.mark.parametrize(("version", "op", "wanted", "ok"), [
    ("1.0", "", "", True),
    ("1.0", "=", "1.0", True),
    ("1.0-1", "=", "1.0", False),
    ("1.0~rc1", "<<", "1.0", True),
    ("1:0.1", ">>", "9.9", True),  # epochs win
    ("2.36-9+deb12u4", "<<", "2.36-9+deb12u10", True),
    ("2.36-9+deb12u4", "<=", "2.36-9+deb12u4", True),
    ("2.36", ">=", "2.36", True),
    ("2.35", ">=", "2.36", False),
    ("2.37", ">>", "2.36", True),
    ("2.36", ">>", "2.36", False),
])
def test_satisfies(version: str, op: str, wanted: str, ok: bool) -> None:
    assert satisfies(version, op, wanted) is ok
