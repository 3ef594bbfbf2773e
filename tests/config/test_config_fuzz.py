"""Whatever the text, loading either gives a System that dumps and reloads to
the same thing, or fails with a DistrokitError (never a traceback)."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML
from test_config_valid import EVERYTHING, MINIMAL

from distrokit.config import ConfigError, as_linuxkit, dump_yaml, load_text
from distrokit.config.schema import Container, File, Kernel, System, Volume
from distrokit.log import DistrokitError

FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "50")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def resolver(path: Path) -> str:
    if "bad" in path.name:
        raise DistrokitError(f"{path}: not a package")
    return f"example/{path.name or 'pkg'}:1"


def check_text(text: str) -> None:
    try:
        system = load_text(text, "fuzz.yml", Path("/base"), resolver)
    except ConfigError as e:
        assert e.problems and all(line for line in e.problems)
        return
    except DistrokitError:
        return
    # a valid system survives a trip through dump_yaml unchanged
    again = load_text(dump_yaml(system), "dumped.yml")
    assert as_linuxkit(again) == as_linuxkit(system)


YAML_BITS = st.sampled_from(
    [
        ":",
        " ",
        "  ",
        "\n",
        "- ",
        "[",
        "]",
        "{",
        "}",
        ",",
        "'",
        '"',
        "&a ",
        "*a",
        "!t ",
        "#",
        "? ",
        "|",
        ">",
        "---",
        "@pkg:bad",
        "@pkg:./x",
        "null",
        "true",
        "0644",
        "1.5",
        "~",
        "name",
        "image",
        "services",
        "onboot",
        "files",
        "path",
        "contents",
        "kernel",
        "uid",
        "\t",
        "\\",
        "%",
        "<<: *a",
        "2024-01-01",
        "é",
        "\x00",
        "\ufeff",
    ]
)


@FUZZ
@given(st.lists(YAML_BITS, max_size=40).map("".join))
def test_random_yaml_fragments(text: str) -> None:
    check_text(text)


@FUZZ
@given(st.text(max_size=200))
def test_random_text(text: str) -> None:
    check_text(text)


@FUZZ
@given(
    st.sampled_from([MINIMAL, EVERYTHING]),
    st.lists(
        st.tuples(
            st.integers(0, 10_000),
            st.integers(0, 20),
            st.sampled_from(["", " ", "x", "- ", ":", "\n  ", "'"]),
        ),
        min_size=1,
        max_size=5,
    ),
)
def test_mutated_valid_files(text: str, edits: list[tuple[int, int, str]]) -> None:
    for at, length, insert in edits:
        at %= len(text) + 1
        text = text[:at] + insert + text[at + length :]
    check_text(text)


# Structured documents: the schema's own keys (and near misses), random values.
KEYS = sorted(
    {
        f.alias or n
        for model in (System, Kernel, Container, File, Volume)
        for n, f in model.model_fields.items()
    }
    | {"comand", "Name", "capabilities.ad"}
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=10),
    st.sampled_from(["@pkg:./p", "@pkg:bad", "0755", "yaml", "json", "oci", "root", "a", "x:1"]),
)
VALUES: Any = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)
    ),
    max_leaves=25,
)


def dump(data: Any) -> str:
    stream = io.StringIO()
    YAML(typ="safe", pure=True).dump(data, stream)
    return stream.getvalue()


@FUZZ
@given(st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=6))
def test_structured_documents(data: dict[str, Any]) -> None:
    check_text(dump(data))


@FUZZ
@given(
    st.lists(
        st.fixed_dictionaries(
            {"name": st.sampled_from(["a", "b", "", "../x", "c d"]), "image": st.just("i:1")},
            optional={k: VALUES for k in ("uid", "gid", "command", "readonly", "capabilities")},
        ),
        max_size=4,
    ),
    st.lists(
        st.fixed_dictionaries(
            {"path": st.sampled_from(["etc/x", "/", "", "a/b"])},
            optional={
                k: SCALARS
                for k in ("directory", "symlink", "contents", "source", "metadata", "mode", "uid")
            },
        ),
        max_size=4,
    ),
)
def test_near_valid_systems(services: list[dict[str, Any]], files: list[dict[str, Any]]) -> None:
    check_text(dump({"services": services, "files": files}))


# Valid systems with awkward strings: dump_yaml must quote and block them right.
TEXT = st.text(st.characters(blacklist_categories=["Cs"]), max_size=30)
NAMES = st.text("abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=8)


@FUZZ
@given(
    st.lists(
        st.fixed_dictionaries(
            {"name": NAMES, "image": TEXT},
            optional={
                "command": st.lists(TEXT, max_size=3),
                "env": st.lists(TEXT, max_size=3),
                "hostname": TEXT,
                "readonly": st.booleans(),
                "oomScoreAdj": st.integers(-1000, 1000),
                "sysctl": st.dictionaries(TEXT, TEXT, max_size=2),
                "uid": st.integers(0, 65535),
            },
        ),
        max_size=3,
        unique_by=lambda c: c["name"],
    ),
    st.lists(st.fixed_dictionaries({"path": TEXT.map(lambda s: "etc/" + s), "contents": TEXT})),
    st.fixed_dictionaries({}, optional={"cmdline": TEXT, "tar": TEXT, "image": TEXT}),
)
def test_valid_systems_round_trip(
    services: list[dict[str, Any]], files: list[dict[str, Any]], kernel: dict[str, Any]
) -> None:
    system = load_text(dump({"kernel": kernel, "services": services, "files": files}))
    dumped = dump_yaml(system)
    assert as_linuxkit(load_text(dumped)) == as_linuxkit(system)
