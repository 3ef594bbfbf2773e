"""Image references, normalised the way Docker does it.

``redis`` is ``docker.io/library/redis:latest``; ``distrokit/init:1a2b`` is
``docker.io/distrokit/init:1a2b``; ``127.0.0.1:5000/x@sha256:...`` keeps its
registry and digest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from distrokit.log import DistrokitError

DEFAULT_REGISTRY = "docker.io"

_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$")
_DOMAIN = re.compile(
    r"^(?:[a-zA-Z0-9-]+\.)*[a-zA-Z0-9-]+(?::[0-9]+)?$"  # host[:port]
    r"|^\[[0-9a-fA-F:]+\](?::[0-9]+)?$"  # [ipv6][:port]
)


@dataclass(frozen=True)
class Reference:
    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str) -> Reference:
        """Parse and normalise a reference; raise DistrokitError when it is malformed."""
        if not text or text != text.strip():
            raise DistrokitError(f"invalid image reference {text!r}")
        rest, digest = text, None
        if "@" in rest:
            rest, digest = rest.split("@", 1)
            if not _DIGEST.match(digest):
                raise DistrokitError(f"invalid digest in image reference {text!r}")
        tag = None
        slash = rest.rfind("/")
        colon = rest.rfind(":")
        if colon > slash:
            rest, tag = rest[:colon], rest[colon + 1:]
            if not _TAG.match(tag):
                raise DistrokitError(f"invalid tag in image reference {text!r}")
        first, _, remainder = rest.partition("/")
        if remainder and ("." in first or ":" in first or first == "localhost"):
            registry, path = first, remainder
            if not _DOMAIN.match(registry):
                raise DistrokitError(f"invalid registry in image reference {text!r}")
        else:
            registry, path = DEFAULT_REGISTRY, rest
        if registry == "index.docker.io":
            registry = DEFAULT_REGISTRY
        if registry == DEFAULT_REGISTRY and "/" not in path:
            path = f"library/{path}"
        if not path or not all(_COMPONENT.match(c) for c in path.split("/")):
            raise DistrokitError(
                f"invalid image reference {text!r}",
                hint="repository names are lower case: letters, digits, '.', '_', '-'",
            )
        if tag is None and digest is None:
            tag = "latest"
        return cls(registry, path, tag, digest)

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text

    def short(self) -> str:
        """The familiar short form: no docker.io/ or library/."""
        text = str(self)
        if self.registry == DEFAULT_REGISTRY:
            text = text[len(DEFAULT_REGISTRY) + 1:]
            if text.startswith("library/"):
                text = text[len("library/"):]
        return text


def normalise(text: str) -> str:
    return str(Reference.parse(text))
