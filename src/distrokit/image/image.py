"""An image in the cache: its manifest, its config, its label and its files."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

from distrokit.image import oci
from distrokit.image.cache import Cache
from distrokit.image.layers import flatten
from distrokit.image.reference import normalise
from distrokit.log import DistrokitError
from distrokit.stream import Entry


@dataclass(frozen=True)
class Image:
    ref: str
    digest: str
    manifest: dict[str, Any]
    config: dict[str, Any]
    cache: Cache

    @classmethod
    def open(cls, cache: Cache, ref: str, arch: str = "amd64") -> Image | None:
        """The cached image named ref (for arch when it is multi-platform), or None."""
        desc = cache.lookup(ref)
        if desc is None:
            return None
        name = normalise(ref)
        manifest = _json(cache, desc["digest"], name)
        if manifest.get("mediaType") in (oci.INDEX, oci.DOCKER_LIST) or "manifests" in manifest:
            chosen = [
                m for m in manifest.get("manifests", [])
                if m.get("platform", {}).get("architecture") == arch
                and m.get("platform", {}).get("os", "linux") == "linux"
            ]
            if not chosen:
                raise DistrokitError(f"image {name} has no linux/{arch} variant")
            desc = chosen[0]
            manifest = _json(cache, desc["digest"], name)
        config = _json(cache, manifest["config"]["digest"], name)
        return cls(name, desc["digest"], manifest, config, cache)

    @property
    def runtime_config(self) -> dict[str, Any]:
        """The image config's ``config`` object: Entrypoint, Cmd, Env, WorkingDir, Labels."""
        value = self.config.get("config") or {}
        return value if isinstance(value, dict) else {}

    @property
    def label(self) -> Any | None:
        """The parsed ``org.mobyproject.config`` label, or None when there is none."""
        labels = self.runtime_config.get("Labels") or {}
        text = labels.get(oci.LABEL)
        if text is None:
            return None
        try:
            return json.loads(text)
        except ValueError as exc:
            raise DistrokitError(
                f"image {self.ref}: label {oci.LABEL} is not valid JSON: {exc}"
            ) from None

    def entries(self) -> Iterator[Entry]:
        layers = [
            (layer["mediaType"], partial(self.cache.open_blob, layer["digest"]))
            for layer in self.manifest.get("layers", [])
        ]
        return flatten(layers, self.ref)


def _json(cache: Cache, digest: str, name: str) -> dict[str, Any]:
    try:
        value = json.loads(cache.read_blob(digest))
    except ValueError:
        raise DistrokitError(f"image {name}: blob {digest} is not valid JSON") from None
    if not isinstance(value, dict):
        raise DistrokitError(f"image {name}: blob {digest} is not a JSON object")
    return value
