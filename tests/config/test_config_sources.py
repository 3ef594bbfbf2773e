"""Several sources merged; stdin; URLs; @pkg: templates."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from distrokit.config import ConfigError, load
from distrokit.log import DistrokitError

BASE = """\
kernel:
  image: linuxkit/kernel:6.6
  cmdline: console=ttyS0
  tar: kernel.tar
init: [linuxkit/init:1, linuxkit/runc:1]
onboot:
  - {name: dhcpcd, image: linuxkit/dhcpcd:1}
services:
  - {name: getty, image: linuxkit/getty:1}
files:
  - {path: etc/a, contents: a}
volumes:
  - {name: data}
"""

EXTRA = """\
kernel:
  cmdline: console=tty0
  binary: ""
  tar: ""
init: [linuxkit/containerd:1]
onboot:
  - {name: dhcpcd, image: linuxkit/dhcpcd:2}
services:
  - {name: sshd, image: linuxkit/sshd:1}
  - {name: getty, image: linuxkit/getty:2}
"""


def test_merge(tmp_path: Path) -> None:
    (tmp_path / "base.yml").write_text(BASE)
    (tmp_path / "extra.yml").write_text(
        EXTRA.replace("  - {name: getty, image: linuxkit/getty:2}\n", "")
    )
    system = load([str(tmp_path / "base.yml"), str(tmp_path / "extra.yml")])
    # non-empty kernel fields override; tar "" means "no tar" and overrides too
    assert system.kernel.image == "linuxkit/kernel:6.6"
    assert system.kernel.cmdline == "console=tty0"
    assert system.kernel.binary == "kernel"
    assert system.kernel.tar == ""
    assert system.init == ["linuxkit/init:1", "linuxkit/runc:1", "linuxkit/containerd:1"]
    assert [c.image for c in system.onboot] == ["linuxkit/dhcpcd:1", "linuxkit/dhcpcd:2"]
    assert [c.name for c in system.services] == ["getty", "sshd"]
    # positions follow the merged indices into the right file
    assert str(system.where("services", 1, "name")) == f"{tmp_path}/extra.yml:9:12"
    assert str(system.where("kernel", "cmdline")) == f"{tmp_path}/extra.yml:2:12"
    assert str(system.where("kernel", "image")) == f"{tmp_path}/base.yml:2:10"


def test_duplicate_after_merge_points_at_the_later_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("base.yml").write_text(BASE)
    Path("extra.yml").write_text(EXTRA)
    with pytest.raises(ConfigError) as caught:
        load(["base.yml", "extra.yml"])
    assert caught.value.problems == [
        "extra.yml:10:12: duplicate service name 'getty' (first used at base.yml:9:12)"
    ]


def test_problems_of_every_file_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("a.yml").write_text("onboot:\n  - name: x\n")
    Path("b.yml").write_text("servics: []\n")
    Path("c.yml").write_text("init: [\n")
    with pytest.raises(ConfigError) as caught:
        load(["b.yml", "missing.yml", "a.yml", "c.yml"])
    assert caught.value.problems == [
        "cannot read missing.yml: No such file or directory",
        "b.yml:1:1: unknown key 'servics' at the top level (did you mean 'services'?)",
        "a.yml:2:5: missing required key 'image' in onboot[0]",
        "c.yml:2:1: expected the node content, but found '<stream end>'",
    ]


def test_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(BASE.encode())))
    system = load(["-"])
    assert system.services[0].name == "getty"
    assert str(system.where("services", 0)) == "<stdin>:9:5"


def test_stdin_error_names_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"init: 5\n")))
    with pytest.raises(ConfigError, match=r"^<stdin>:1:7: init: expected a list"):
        load(["-"])


def test_url(tmp_path: Path, server: str) -> None:
    (tmp_path / "base.yml").write_text(BASE)
    system = load([f"{server}/base.yml"])
    assert system.kernel.image == "linuxkit/kernel:6.6"
    assert str(system.where("init", 1)) == f"{server}/base.yml:5:25"


def test_url_not_found(server: str) -> None:
    with pytest.raises(
        DistrokitError, match=r"^cannot fetch .*/nope.yml: HTTP 404 File not found$"
    ):
        load([f"{server}/nope.yml"])


def test_url_unreachable() -> None:
    with pytest.raises(DistrokitError, match=r"^cannot fetch http://127.0.0.1:9/x.yml: "):
        load(["http://127.0.0.1:9/x.yml"])


TEMPLATED = """\
init:
  - "@pkg:../pkg/init"
  - linuxkit/runc:1
services:
  - name: getty
    image: "@pkg:/abs/getty"
    env: ["@pkg:not-an-image-but-still-a-template"]
"""


def test_templates(tmp_path: Path) -> None:
    (tmp_path / "sys").mkdir()
    (tmp_path / "sys" / "t.yml").write_text(TEMPLATED)
    seen: list[Path] = []

    def resolve(path: Path) -> str:
        seen.append(path)
        return f"distrokit/{path.name}:0123abcd"

    system = load([str(tmp_path / "sys" / "t.yml")], resolve_pkg=resolve)
    assert system.init == ["distrokit/init:0123abcd", "linuxkit/runc:1"]
    assert system.services[0].image == "distrokit/getty:0123abcd"
    assert seen == [
        tmp_path / "sys" / "../pkg/init",
        Path("/abs/getty"),
        tmp_path / "sys" / "not-an-image-but-still-a-template",
    ]


def test_templates_left_alone_without_resolver(tmp_path: Path) -> None:
    (tmp_path / "t.yml").write_text(TEMPLATED)
    assert load([str(tmp_path / "t.yml")]).init[0] == "@pkg:../pkg/init"


def test_template_error_points_at_the_scalar(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("t.yml").write_text(TEMPLATED)

    def resolve(path: Path) -> str:
        if path.name == "getty":
            raise DistrokitError(f"{path}: no build.yml", hint="is it a package directory?")
        return "x:1"

    with pytest.raises(ConfigError) as caught:
        load(["t.yml"], resolve_pkg=resolve)
    assert caught.value.message == "t.yml:6:12: /abs/getty: no build.yml"
    assert caught.value.hint == "is it a package directory?"


def test_templates_not_resolved_when_the_file_is_invalid(tmp_path: Path) -> None:
    (tmp_path / "t.yml").write_text(TEMPLATED + "bogus: 1\n")

    def resolve(path: Path) -> str:
        raise AssertionError("must not be called")

    with pytest.raises(ConfigError, match="unknown key 'bogus'"):
        load([str(tmp_path / "t.yml")], resolve_pkg=resolve)


def test_templates_only_in_local_files(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(TEMPLATED.encode())))
    with pytest.raises(ConfigError) as caught:
        load(["-"], resolve_pkg=lambda p: "x:1")
    assert caught.value.message == (
        "<stdin>:2:5: @pkg:../pkg/init: a relative @pkg: path needs a local file to be relative to"
    )
