"""org.mobyproject.config labels: a container entry without name and image."""

from __future__ import annotations

import json

import pytest

from distrokit.config import ConfigError, validate_label

GETTY = {
    "binds": ["/etc/getty.shadow:/etc/shadow", "/run:/run", "/tmp:/tmp"],
    "capabilities": ["all"],
    "pid": "host",
    "rootfsPropagation": "shared",
    "devices": [{"path": "/dev/console", "type": "c", "major": 5, "minor": 1, "mode": "0666"}],
    "runtime": {"mkdir": ["/var/lib/getty"]},
}


def test_valid_label_from_text_and_from_data() -> None:
    assert validate_label(json.dumps(GETTY), "linuxkit/getty:1") == GETTY
    assert validate_label(GETTY, "linuxkit/getty:1") == GETTY
    assert validate_label("{}", "x") == {}


def test_only_written_keys_come_back() -> None:
    assert validate_label({"readonly": False, "command": []}, "x") == {
        "readonly": False,
        "command": [],
    }


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        (
            {"name": "getty"},
            ["image x:1: label org.mobyproject.config: 'name' cannot be set in a label"],
        ),
        (
            {"image": "a", "comand": ["x"]},
            [
                "image x:1: label org.mobyproject.config: 'image' cannot be set in a label",
                "image x:1: label org.mobyproject.config: unknown key 'comand'"
                " (did you mean 'command'?)",
            ],
        ),
        (
            {"binds": "/a:/a", "resources": {"pids": {"limit": "5"}}},
            [
                "image x:1: label org.mobyproject.config: binds: expected a list,"
                " got a string ('/a:/a')",
                "image x:1: label org.mobyproject.config: resources.pids.limit:"
                " expected an integer, got a string ('5')",
            ],
        ),
        (
            ["not", "an", "object"],
            ["image x:1: label org.mobyproject.config: expected a JSON object, got a list"],
        ),
        (
            "{not json",
            [
                "image x:1: label org.mobyproject.config: not valid JSON:"
                " Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"
            ],
        ),
    ],
)
def test_invalid_label(label: object, expected: list[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        validate_label(label, "x:1")
    assert caught.value.problems == expected
