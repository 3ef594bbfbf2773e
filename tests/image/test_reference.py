import pytest

from distrokit.image.reference import Reference, normalise
from distrokit.log import DistrokitError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("redis", "docker.io/library/redis:latest"),
        ("redis:7", "docker.io/library/redis:7"),
        ("distrokit/init:1a2b", "docker.io/distrokit/init:1a2b"),
        ("docker.io/library/alpine:3.19", "docker.io/library/alpine:3.19"),
        ("index.docker.io/x/y:z", "docker.io/x/y:z"),
        ("127.0.0.1:5000/a/b:c", "127.0.0.1:5000/a/b:c"),
        ("localhost/a", "localhost/a:latest"),
        ("ghcr.io/org/img", "ghcr.io/org/img:latest"),
        ("x@sha256:" + "a" * 64, "docker.io/library/x@sha256:" + "a" * 64),
        ("x:1@sha256:" + "b" * 64, "docker.io/library/x:1@sha256:" + "b" * 64),
    ],
)
def test_normalise(text: str, expected: str) -> None:
    assert normalise(text) == expected


@pytest.mark.parametrize("text", ["", "UPPER/case", "a::b", "x@sha256:short", " x", "a/:b"])
def test_invalid(text: str) -> None:
    with pytest.raises(DistrokitError):
        Reference.parse(text)


def test_short() -> None:
    assert Reference.parse("redis").short() == "redis:latest"
    assert Reference.parse("distrokit/init:x").short() == "distrokit/init:x"
