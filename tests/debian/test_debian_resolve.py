from __future__ import annotations

import pytest

from distrokit.debian.index import Stanza
from distrokit.debian.resolve import Pool, resolve
from distrokit.log import DistrokitError

MAIN = "http://deb.example/debian"
SECURITY = "http://deb.example/debian-security"


def st(name: str, version: str = "1", depends: str = "", provides: str = "",
       pre: str = "", arch: str = "amd64") -> Stanza:
    return Stanza(name, version, arch, depends, pre, provides,
                  f"pool/{name}_{version}.deb", "0" * 64, "10", "")


def pool(*stanzas: Stanza, security: tuple[Stanza, ...] = ()) -> Pool:
    p = Pool("amd64", "bookworm main (amd64)")
    p.add(stanzas, MAIN)
    p.add(security, SECURITY)
    return p


def names(packages: list[object]) -> list[str]:
    return [f"{p.name}={p.version}" for p in packages]  # type: ignore[attr-defined]


def test_closure_sorted() -> None:
    p = pool(st("app", depends="libz, libc6 (>= 2)"), st("libz", depends="libc6"),
             st("libc6", "2"), st("unrelated"))
    assert names(resolve(p, ["app"])) == ["app=1", "libc6=2", "libz=1"]


def test_pre_depends_and_cycles() -> None:
    p = pool(st("a", pre="b"), st("b", depends="a"))
    assert names(resolve(p, ["a"])) == ["a=1", "b=1"]


def test_highest_version_across_repos() -> None:
    p = pool(st("libssl3", "3.0.11-1~deb12u2"), st("app", depends="libssl3"),
             security=(st("libssl3", "3.0.15-1~deb12u1"),))
    packages = resolve(p, ["app"])
    ssl = next(pkg for pkg in packages if pkg.name == "libssl3")
    assert (ssl.version, ssl.repo_url) == ("3.0.15-1~deb12u1", SECURITY)
    assert ssl.url == f"{SECURITY}/pool/libssl3_3.0.15-1~deb12u1.deb"


def test_version_constraint_picks_lower_version() -> None:
    p = pool(st("lib", "1"), st("lib", "3"), st("app", depends="lib (<< 2)"))
    assert names(resolve(p, ["app"])) == ["app=1", "lib=1"]


def test_alternatives_first_satisfiable() -> None:
    p = pool(st("app", depends="missing | lib (>= 5) | other | lib"), st("other"), st("lib", "2"))
    assert names(resolve(p, ["app"])) == ["app=1", "other=1"]


def test_alternative_already_chosen_wins() -> None:
    p = pool(st("app", depends="a | b"), st("a"), st("b"))
    assert names(resolve(p, ["app", "b"])) == ["app=1", "b=1"]


def test_virtual_package() -> None:
    p = pool(st("app", depends="awk"), st("mawk", provides="awk"), st("gawk", provides="awk"))
    # Several providers and none requested: the first by name, deterministically.
    assert names(resolve(p, ["app"])) == ["app=1", "gawk=1"]
    # A requested provider is the one used.
    assert names(resolve(p, ["app", "mawk"])) == ["app=1", "mawk=1"]


def test_versioned_provides() -> None:
    p = pool(st("app", depends="libfoo-abi (>= 2)"),
             st("old", provides="libfoo-abi"),
             st("new", provides="libfoo-abi (= 2.1)"))
    assert names(resolve(p, ["app"])) == ["app=1", "new=1"]
    p = pool(st("app", depends="libfoo-abi (>= 2)"), st("old", provides="libfoo-abi"))
    with pytest.raises(DistrokitError, match=r"app -> libfoo-abi \(>= 2\)"):
        resolve(p, ["app"])


def test_arch_qualifiers_and_arch_all() -> None:
    p = pool(st("app", depends="python3:any (>= 3), perl:native, libx:amd64, data"),
             st("python3", "3.11"), st("perl"), st("libx"), st("data", arch="all"),
             st("python3", "9", arch="i386"))
    assert names(resolve(p, ["app"])) == ["app=1", "data=1", "libx=1", "perl=1", "python3=3.11"]


def test_foreign_arch_qualifier_is_unsatisfiable() -> None:
    p = pool(st("app", depends="libx:i386 | liby"), st("libx"), st("liby"))
    assert names(resolve(p, ["app"])) == ["app=1", "liby=1"]


def test_request_with_version() -> None:
    p = pool(st("tool", "1"), st("tool", "2"))
    assert names(resolve(p, ["tool (<< 2)"])) == ["tool=1"]


def test_unknown_package() -> None:
    with pytest.raises(DistrokitError) as e:
        resolve(pool(st("a")), ["foo"])
    assert str(e.value) == "Debian package 'foo' not found in bookworm main (amd64)"


def test_unsatisfiable_names_the_chain() -> None:
    p = pool(st("app", depends="lib"), st("lib", depends="libc6 (>= 3)"), st("libc6", "2"))
    with pytest.raises(DistrokitError) as e:
        resolve(p, ["app"])
    assert str(e.value) == ("unsatisfiable Debian dependency app -> lib -> libc6 (>= 3): "
                            "libc6 has only 2")


def test_missing_dependency() -> None:
    with pytest.raises(DistrokitError, match=r"app -> nothere: not in bookworm main \(amd64\)"):
        resolve(pool(st("app", depends="nothere")), ["app"])


def test_conflicting_choice_is_reported() -> None:
    p = pool(st("old", depends="lib (<< 2)"), st("new", depends="lib (>= 2)"),
             st("lib", "1"), st("lib", "2"))
    with pytest.raises(DistrokitError, match=r"new -> lib \(>= 2\): lib 1 already chosen"):
        resolve(p, ["old", "new"])


def test_deterministic() -> None:
    p = pool(st("a", depends="c, b"), st("b", depends="d | e"), st("c", depends="e"),
             st("d"), st("e"))
    assert resolve(p, ["a"]) == resolve(p, ["a"])
    # Breadth first: c pulls e before b's "d | e" is looked at, so d is not needed.
    assert names(resolve(p, ["a"])) == ["a=1", "b=1", "c=1", "e=1"]


def test_ignore_counts_as_installed() -> None:
    p = pool(st("app", depends="libc6 (>= 9), sh | dash"), st("libc6", "2", depends="gcc-base"),
             st("gcc-base"), st("dash"))
    assert names(resolve(p, ["app"], ignore=["libc6", "sh"])) == ["app=1"]
