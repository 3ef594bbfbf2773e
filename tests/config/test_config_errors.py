"""Invalid files: every problem reported, each on its own line and column."""

from __future__ import annotations

from pathlib import Path

import pytest

from distrokit.config import ConfigError, load
from distrokit.log import DistrokitError

HEAD = "kernel:\n  image: linuxkit/kernel:6.6\n"

CASES = [
    (  # unknown key, with a suggestion, pointing at the key
        "onboot:\n  - name: a\n    image: b\n    comand: [x]\n",
        "hello.yml:4:5: unknown key 'comand' in onboot[0] (did you mean 'command'?)",
    ),
    (
        "servics: []\n",
        "hello.yml:1:1: unknown key 'servics' at the top level (did you mean 'services'?)",
    ),
    (
        "services:\n  - name: a\n    image: b\n    maskedpaths: [/x]\n",
        "hello.yml:4:5: unknown key 'maskedpaths' in services[0] (did you mean 'maskedPaths'?)",
    ),
    (
        "services:\n  - name: a\n    image: b\n    resources:\n      memory:\n        limt: 5\n",
        "hello.yml:6:9: unknown key 'limt' in services[0].resources.memory (did you mean 'limit'?)",
    ),
    (
        "services:\n  - name: a\n    image: b\n    zzz: 1\n",
        "hello.yml:4:5: unknown key 'zzz' in services[0]",
    ),
    (  # wrong types, pointing at the value
        "services:\n  - name: a\n    image: b\n    capabilities: CAP_SYS_ADMIN\n",
        "hello.yml:4:19: services[0].capabilities: expected a list, got a string ('CAP_SYS_ADMIN')",
    ),
    (
        "services:\n  - name: a\n    image: b\n    readonly: yes\n",
        "hello.yml:4:15: services[0].readonly: expected true or false, got a string ('yes')",
    ),
    (
        'services:\n  - name: a\n    image: b\n    oomScoreAdj: "-5"\n',
        "hello.yml:4:18: services[0].oomScoreAdj: expected an integer, got a string ('-5')",
    ),
    (
        "services:\n  - name: a\n    image: b\n    uid: [1]\n",
        "hello.yml:4:10: services[0].uid: expected an integer or a string, got a list",
    ),
    (
        "services:\n  - name: a\n    image: b\n    command:\n",
        "hello.yml:4:5: services[0].command: expected a value, got nothing (null)",
    ),
    (
        "files:\n  - path: etc/x\n    mode: 0644\n    contents: x\n",
        "hello.yml:3:11: files[0].mode: expected a string, got an integer (644) (put it in quotes)",
    ),
    (
        "init:\n  - linuxkit/init:1\n  - 7\n",
        "hello.yml:3:5: init[1]: expected a string, got an integer (7) (put it in quotes)",
    ),
    (
        "kernel: linuxkit/kernel:6.6\n",
        "hello.yml:1:9: kernel: expected a mapping, got a string ('linuxkit/kernel:6.6')",
    ),
    (
        "- a\n- b\n",
        "hello.yml:1:1: the top level: expected a mapping, got a list",
    ),
    (  # missing keys point at the entry
        "onboot:\n  - name: a\n",
        "hello.yml:2:5: missing required key 'image' in onboot[0]",
    ),
    (
        "services:\n  - image: b\n",
        "hello.yml:2:5: missing required key 'name' in services[0]",
    ),
    (
        "volumes:\n  - image: alpine\n",
        "hello.yml:2:5: missing required key 'name' in volumes[0]",
    ),
    (  # files: LinuxKit's combination rules
        "files:\n  - path: etc/x\n",
        "hello.yml:2:5: files[0]: nothing to write at 'etc/x':"
        " give contents, source, metadata, symlink or directory: true",
    ),
    (
        "files:\n  - path: etc/x\n    source: a\n    metadata: yaml\n",
        "hello.yml:4:5: files[0]: source and metadata cannot both be given",
    ),
    (
        "files:\n  - path: etc/x\n    contents: a\n    source: b\n",
        "hello.yml:4:5: files[0]: source cannot be combined with contents",
    ),
    (
        "files:\n  - path: etc/x\n    contents: a\n    metadata: json\n",
        "hello.yml:4:5: files[0]: metadata cannot be combined with contents",
    ),
    (
        "files:\n  - path: etc\n    directory: true\n    contents: a\n",
        "hello.yml:4:5: files[0]: a directory cannot have contents",
    ),
    (
        "files:\n  - path: etc/x\n    metadata: xml\n",
        "hello.yml:3:15: files[0].metadata: expected yaml or json, got 'xml'",
    ),
    (
        'files:\n  - path: etc/x\n    contents: a\n    mode: "rw"\n',
        "hello.yml:4:11: files[0].mode: 'rw' is not an octal file mode like \"0644\"",
    ),
    (
        "files:\n  - path: /\n    directory: true\n",
        "hello.yml:2:11: files[0].path: must name a file, not be empty or /",
    ),
    (  # names
        "services:\n  - name: a\n    image: b\n  - name: a\n    image: c\n",
        "hello.yml:4:11: duplicate service name 'a' (first used at hello.yml:2:11)",
    ),
    (
        "onboot:\n  - name: ../etc\n    image: b\n",
        "hello.yml:2:11: onboot[0].name: '../etc' is not a usable container name"
        " (it names a directory: not empty, no '/')",
    ),
    (
        "volumes:\n  - name: Data\n",
        "hello.yml:2:11: invalid volume name 'Data' (use a-z, 0-9, '_' and '-')",
    ),
    (
        "volumes:\n  - name: data\n  - name: data\n",
        "hello.yml:3:11: duplicate volume name 'data' (first used at hello.yml:2:11)",
    ),
    (
        "volumes:\n  - name: data\n    format: squashfs\n",
        "hello.yml:3:13: volumes[0].format: expected one of filesystem, oci,"
        " got a string ('squashfs')",
    ),
    (  # uid/gid names refer to containers
        "services:\n  - name: a\n    image: b\n    uid: nobody\n",
        "hello.yml:4:10: services[0].uid: no container is named 'nobody'",
    ),
    (
        'files:\n  - path: x\n    contents: a\n    gid: "100"\n',
        "hello.yml:4:10: files[0].gid: no container is named '100' (write numbers without quotes)",
    ),
    (  # YAML syntax
        "services:\n  - name: a\n    image: [b\n",
        "hello.yml:4:1: expected ',' or ']', but got '<stream end>'"
        " (while parsing a flow sequence at 3:12)",
    ),
    (
        "services:\n  - name: a\n\timage: b\n",
        "hello.yml:3:1: found character '\\t' that cannot start any token",
    ),
    (
        "init: [a]\ninit: [b]\n",
        'hello.yml:2:1: found duplicate key "init"',
    ),
    (
        "init: [a]\n---\ninit: [b]\n",
        "hello.yml:2:1: a file holds one YAML document: remove this '---'",
    ),
    (
        "- &x\n  - *x\n",
        "hello.yml:1:3: an alias refers to its own parent",
    ),
    (
        "sysctl:\n  {a: 1}: b\n",
        "hello.yml:2:3: keys must be strings, not ordereddict([('a', 1)])",
    ),
]


def load_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "hello.yml").write_text(text)
    load(["hello.yml"])


@pytest.mark.parametrize(
    ("text", "expected"), CASES, ids=[e.split(": ", 1)[1][:40] for _, e in CASES]
)
def test_invalid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_text(tmp_path, monkeypatch, text)
    assert str(caught.value) == expected
    assert caught.value.problems == [expected]


def test_all_problems_at_once_in_file_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = HEAD + (
        "  cmdlin: console=ttyS0\n"  # 3
        "onboot:\n"
        "  - name: a\n"  # 5
        "    image: b\n"
        "    capabilities: [CAP_A, 5]\n"  # 7
        "  - name: c\n"
        "services:\n"
        "  - name: s\n"  # 10
        "    image: s\n"
        "    readonly: 1\n"  # 12
        "    net: [x]\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_text(tmp_path, monkeypatch, text)
    assert caught.value.problems == [
        "hello.yml:3:3: unknown key 'cmdlin' in kernel (did you mean 'cmdline'?)",
        "hello.yml:7:27: onboot[0].capabilities[1]: expected a string, got an integer (5)"
        " (put it in quotes)",
        "hello.yml:8:5: missing required key 'image' in onboot[1]",
        "hello.yml:12:15: services[0].readonly: expected true or false, got an integer (1)",
        "hello.yml:13:10: services[0].net: expected a string, got a list",
    ]
    assert str(caught.value).splitlines() == caught.value.problems


def test_semantic_problems_together(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (
        "services:\n"
        "  - {name: a, image: b}\n"
        "  - {name: a, image: b}\n"
        "files:\n"
        "  - path: x\n"
        "volumes:\n"
        "  - name: A\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_text(tmp_path, monkeypatch, text)
    assert caught.value.problems == [
        "hello.yml:3:12: duplicate service name 'a' (first used at hello.yml:2:12)",
        "hello.yml:5:5: files[0]: nothing to write at 'x':"
        " give contents, source, metadata, symlink or directory: true",
        "hello.yml:7:11: invalid volume name 'A' (use a-z, 0-9, '_' and '-')",
    ]


def test_repeated_onboot_names_are_fine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # LinuxKit numbers onboot containers, so e.g. two "format" steps are common.
    load_text(tmp_path, monkeypatch, "onboot:\n  - {name: f, image: x}\n  - {name: f, image: y}\n")


def test_missing_file() -> None:
    with pytest.raises(DistrokitError, match=r"^cannot read /nonexistent\.yml: No such file"):
        load(["/nonexistent.yml"])


def test_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "bin.yml").write_bytes(b"init: [\xff]\n")
    with pytest.raises(ConfigError, match=r"bin.yml: not UTF-8 text \(byte 7\)$"):
        load([str(tmp_path / "bin.yml")])


def test_nothing_to_load() -> None:
    with pytest.raises(DistrokitError, match="no system description"):
        load([])
