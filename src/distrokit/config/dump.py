"""The merged, resolved system as LinuxKit YAML or JSON (``--dry-run``,
``files: metadata: yaml|json``): LinuxKit key names and order, only the keys
that were written."""

from __future__ import annotations

import io
import json
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.scalarstring import LiteralScalarString

from .schema import System


def as_linuxkit(system: System) -> dict[str, Any]:
    """Plain data, keyed and ordered as a LinuxKit file."""
    out: dict[str, Any] = {}
    kernel = system.kernel.model_dump(by_alias=True, exclude_unset=True)
    if kernel:
        out["kernel"] = kernel
    if system.init:
        out["init"] = list(system.init)
    for section in ("onboot", "onshutdown", "services"):
        containers = getattr(system, section)
        if containers:
            out[section] = [c.linuxkit() for c in containers]
    for section in ("files", "volumes"):
        items = getattr(system, section)
        if items:
            out[section] = [x.model_dump(by_alias=True, exclude_unset=True) for x in items]
    return out


def dump_yaml(system: System) -> str:
    yaml = YAML(typ="rt")
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096  # never fold long command lines
    stream = io.StringIO()
    yaml.dump(_literals(as_linuxkit(system)), stream)
    return stream.getvalue()


def dump_json(system: System) -> str:
    return json.dumps(as_linuxkit(system), indent=4) + "\n"


def _literals(data: Any) -> Any:
    """Multi-line strings (file contents) as readable ``|`` blocks, where a
    block can hold them exactly."""
    if isinstance(data, dict):
        return {k: _literals(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_literals(v) for v in data]
    if isinstance(data, str) and "\n" in data and _block_safe(data):
        return LiteralScalarString(data)
    return data


def _block_safe(text: str) -> bool:
    lines = text.split("\n")
    return (
        all(line.isprintable() and line == line.rstrip() for line in lines)
        and not text[:1].isspace()
    )
