"""The YAML through the real command line: several files, stdin, URLs,
--dry-run, and errors of every stage (reading, assembly, image labels) at
FILE:LINE:COL. Images are tiny local packages (no Debian packages), so this
runs offline."""

from __future__ import annotations

import io
import sys
import tarfile
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from distrokit.cli import main

APP = """\
image: app
files:
  - {path: /bin/app, contents: "#!/bin/sh\\necho app\\n", mode: "0755"}
entrypoint: [/bin/app]
"""


def package(root: Path, name: str, config: str = "") -> None:
    (root / name).mkdir()
    recipe = APP.replace("image: app", f"image: {name}")
    (root / name / "build.yml").write_text(recipe + (f"config: {config}\n" if config else ""))


def run(tmp_path: Path, *args: str) -> int:
    return main(["--cache", str(tmp_path / "cache"), *args])


def test_several_files_merge_in_order(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.yml").write_text(
        "kernel: {image: k/kernel:1, cmdline: console=ttyS0}\ninit: [k/init:1]\n"
        "services:\n  - {name: one, image: k/one:1}\n")
    (tmp_path / "b.yml").write_text(
        "kernel: {cmdline: quiet, image: ''}\ninit: [k/runc:1]\n"
        "services:\n  - {name: two, image: k/two:1}\n")
    assert run(tmp_path, "build", "--dry-run", str(tmp_path / "a.yml"),
               str(tmp_path / "b.yml")) == 0
    merged = YAML(typ="safe").load(capsys.readouterr().out)
    assert merged["kernel"] == {"image": "k/kernel:1", "cmdline": "quiet"}
    assert merged["init"] == ["k/init:1", "k/runc:1"]
    assert [s["name"] for s in merged["services"]] == ["one", "two"]


def test_dry_run_resolves_templates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    package(tmp_path, "app")
    (tmp_path / "s.yml").write_text('onboot:\n  - {name: a, image: "@pkg:app"}\n')
    assert run(tmp_path, "build", "--dry-run", str(tmp_path / "s.yml")) == 0
    out = YAML(typ="safe").load(capsys.readouterr().out)
    assert out["onboot"][0]["image"].startswith("distrokit/app:")
    assert not list(tmp_path.glob("*.tar"))  # nothing built


def test_stdin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
               capsys: pytest.CaptureFixture[str]) -> None:
    text = b"onboot:\n  - {name: a, image: x/a:1, comand: [x]}\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text)))
    assert run(tmp_path, "build", "--dry-run", "-") == 1
    err = capsys.readouterr().err
    assert err.startswith("distrokit: error: <stdin>:2:29: unknown key 'comand' in onboot[0] "
                          "(did you mean 'command'?)")


def test_url(tmp_path: Path, server: str, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "remote.yml").write_text("services:\n  - {name: web, image: x/web:1}\n")
    (tmp_path / "local.yml").write_text("services:\n  - {name: web, image: x/web:2}\n")
    assert run(tmp_path, "build", "--dry-run", f"{server}/remote.yml",
               str(tmp_path / "local.yml")) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"distrokit: error: {tmp_path}/local.yml:2:12: duplicate service "
                          f"name 'web' (first used at {server}/remote.yml:2:12)")


VOLUMES = """\
volumes:
  - name: cache
  - name: ro
    readonly: true
onboot:
  - name: a
    image: x/a:1
    binds:
      - cache:/cache
      - ro:/ro
      - nope:/nope
    binds.add: ["ro:/ro2:ro"]
    mounts:
      - {type: bind, source: ro, destination: /ro3, options: [rbind, rw]}
"""


def test_volume_errors_at_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "v.yml").write_text(VOLUMES)
    assert run(tmp_path, "build", "--dry-run", str(tmp_path / "v.yml")) == 1
    f = tmp_path / "v.yml"
    assert capsys.readouterr().err.splitlines() == [
        f"{f}:10:9: onboot[0].binds[1]: volume 'ro' is read-only: bind it with the option ro",
        f"{f}:11:9: onboot[0].binds[2]: no volume is named 'nope' (a bind source not "
        "starting with '/' names a volume)",
        f"{f}:14:30: onboot[0].mounts[0].source: volume 'ro' is read-only: bind it with the "
        "option ro",
    ]


SYSTEM = """\
onboot:
  - name: first
    image: "@pkg:app"
  - name: second
    image: "@pkg:app"
    capabilities: [CAP_KILL, NET_ADMIN]
"""


@pytest.mark.parametrize(("body", "line_col", "message"), [
    ("    capabilities: [CAP_KILL, NET_ADMIN]\n", "6:30",
     "container second: unknown capability 'NET_ADMIN'"),
    ("    capabilities.add: [CAP_KILL, cap_chown]\n", "6:34",
     "container second: unknown capability 'cap_chown'"),
    ('    rlimits: ["nofile,10,5"]\n', "6:15",
     "container second: rlimit 'nofile,10,5': soft limit is above hard limit"),
    ("    hostname: box\n", "6:15",
     "container second: hostname 'box' needs a new uts namespace"),
    ("    command: []\n", "6:14", "container second: no command to run"),
    ("    binds: [/only-one-part]\n", "6:13",
     "container second: cannot parse bind '/only-one-part'"),
    ("    uid: nobody\n", "6:10", "onboot[1].uid: no container is named 'nobody'"),
])
def test_assembly_errors_at_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     body: str, line_col: str, message: str) -> None:
    package(tmp_path, "app")
    system = tmp_path / "s.yml"
    system.write_text(SYSTEM.replace("    capabilities: [CAP_KILL, NET_ADMIN]\n", body))
    assert run(tmp_path, "build", "--format", "tar", "--dir", str(tmp_path / "out"),
               str(system)) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if str(system) in line]
    assert err == [f"distrokit: error: {system}:{line_col}: {message}"]
    assert not list(tmp_path.glob("out/*"))  # no output, not even a partial one


def test_label_errors_name_the_image(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    package(tmp_path, "bad", "{capabilities: [CAP_BOGUS]}")
    package(tmp_path, "worse", "{capabilities: CAP_KILL, name: x}")
    system = tmp_path / "s.yml"
    system.write_text('onboot:\n  - name: a\n    image: "@pkg:bad"\n')
    assert run(tmp_path, "build", "--format", "tar", "--dir", str(tmp_path), str(system)) == 1
    [line] = [e for e in capsys.readouterr().err.splitlines() if str(system) in e]
    assert line.startswith(f"distrokit: error: {system}:3:12: image docker.io/distrokit/bad:")
    assert line.endswith(": label org.mobyproject.config: container a: unknown capability "
                         "'CAP_BOGUS'")
    # the YAML's own capabilities replace the label's: then the build works
    system.write_text('onboot:\n  - name: a\n    image: "@pkg:bad"\n    capabilities: [none]\n')
    assert run(tmp_path, "build", "--format", "tar", "--dir", str(tmp_path), str(system)) == 0
    capsys.readouterr()
    system.write_text('onboot:\n  - name: a\n    image: "@pkg:worse"\n')
    assert run(tmp_path, "build", "--format", "tar", "--dir", str(tmp_path), str(system)) == 1
    err = [e for e in capsys.readouterr().err.splitlines() if str(system) in e]
    assert len(err) == 2 and all(e.startswith(f"{system}:3:12: image ") for e in err)
    assert "'name' cannot be set in a label" in err[0]
    assert "capabilities: expected a list" in err[1]


def test_files_errors_at_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # a relative source is read from the current directory
    (tmp_path / "here.txt").write_text("here\n")
    package(tmp_path, "app")
    system = tmp_path / "s.yml"
    system.write_text("files:\n  - {path: a, source: here.txt, uid: first}\n"
                      "  - {path: b, source: missing.txt}\n"
                      'onboot:\n  - {name: first, image: "@pkg:app"}\n')
    assert run(tmp_path, "build", "--format", "tar", "--dir", str(tmp_path), str(system)) == 1
    [line, hint] = capsys.readouterr().err.splitlines()[-2:]
    assert line == (f"distrokit: error: {system}:3:23: files[1].source: cannot read missing.txt: "
                    "No such file or directory")
    assert "relative to the current directory" in hint


def test_a_small_system_builds(tmp_path: Path) -> None:
    package(tmp_path, "app")
    system = tmp_path / "s.yml"
    system.write_text('onboot:\n  - {name: a, image: "@pkg:app"}\n'
                      'services:\n  - {name: b, image: "@pkg:app", readonly: true}\n'
                      "files:\n  - {path: etc/owned, contents: x, uid: b, gid: a}\n")
    assert run(tmp_path, "build", "--format", "tar", "--dir", str(tmp_path), str(system)) == 0
    with tarfile.open(tmp_path / "s.tar") as tar:
        names = tar.getnames()
        assert "containers/onboot/000-a/lower/bin/app" in names
        assert not [n for n in names if n.startswith("containers/services/b/rootfs/")]
        owned = tar.getmember("etc/owned")
        assert (owned.uid, owned.gid, owned.mode) == (101, 100, 0o600)


def test_volume_definitions_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    system = tmp_path / "v.yml"
    system.write_text("volumes:\n  - {name: a, format: oci}\n"
                      "  - {name: b, image: x/b:1, format: oci, platforms: [amd64]}\n")
    assert run(tmp_path, "build", "--dry-run", str(system)) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"{system}:2:15: volumes[0]: format oci needs an image",
        f"{system}:3:54: volumes[1].platforms[0]: 'amd64' is not a platform like "
        "linux/amd64 or linux/arm/v7",
    ]


def test_every_assembly_problem_at_once(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    package(tmp_path, "app")
    system = tmp_path / "s.yml"
    system.write_text(SYSTEM.replace('    image: "@pkg:app"\n', '    image: "@pkg:app"\n'
                                     '    rlimits: ["nofile,10,5"]\n', 1)
                      + "services:\n  - name: third\n    image: \"@pkg:app\"\n"
                      "    capabilities: [CAP_FOO]\n")
    assert run(tmp_path, "build", "--format", "tar", "--dir", str(tmp_path / "out"),
               str(system)) == 1
    err = capsys.readouterr().err
    assert "4:15: container first: rlimit 'nofile,10,5'" in err
    assert "7:30: container second: unknown capability 'NET_ADMIN'" in err
    assert "11:20: container third: unknown capability 'CAP_FOO'" in err
    assert not list(tmp_path.glob("out/*"))


def test_empty_lists_may_be_null(tmp_path: Path) -> None:
    package(tmp_path, "app")
    system = tmp_path / "s.yml"
    system.write_text('onboot:\n  # - {name: x, image: y}\nservices:\n'
                      'files:\n  - {path: etc/x, contents: x}\n')
    assert run(tmp_path, "build", "--format", "tar", "--dir", str(tmp_path), str(system)) == 0
