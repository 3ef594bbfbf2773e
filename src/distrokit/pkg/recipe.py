"""A component recipe: ``DIR/build.yml`` read and validated (see docs/packages.md)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from distrokit.config.explain import explain
from distrokit.config.problems import ConfigError
from distrokit.config.yamlpos import parse
from distrokit.log import DistrokitError

DEFAULT_DROP = ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale",
                "usr/share/lintian", "usr/share/bug")


_NAME = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*")


class _Strict(BaseModel):
    # strict: "yes" is not true and "0" is not 0, as in the system YAML
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True, strict=True)


class DebianSpec(_Strict):
    packages: list[str] = Field(min_length=1)
    mirror: str | None = None
    suites: list[str] | None = None
    components: list[str] | None = None
    arch: str = "amd64"
    keep: list[str] = []
    drop: list[str] = list(DEFAULT_DROP)
    ignore: list[str] = []  # treated as installed: their dependencies are not followed


class FileSpec(_Strict):
    path: str
    source: str | None = None
    contents: str | None = None
    directory: bool = False
    symlink: str | None = None
    mode: str | None = None
    uid: int = 0
    gid: int = 0

    @field_validator("mode")
    @classmethod
    def _octal(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                int(value, 8)
            except ValueError:
                raise ValueError(f"mode must be an octal string, not {value!r}") from None
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> FileSpec:
        kinds = [self.source is not None, self.contents is not None, self.directory,
                 self.symlink is not None]
        if sum(kinds) != 1:
            raise ValueError("give exactly one of source, contents, directory, symlink")
        return self


class Recipe(_Strict):
    image: str
    org: str = "distrokit"
    debian: DebianSpec | None = None
    busybox_applets: str | None = Field(None, alias="busybox-applets")
    kernel: bool = False
    files: list[FileSpec] = []
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    env: list[str] = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    workdir: str = "/"
    config: dict[str, Any] | None = None

    @field_validator("image", "org")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.fullmatch(value):
            raise ValueError(f"{value!r} is not an image name: lower-case letters, digits, "
                             "'.', '_', '-', and '/' between parts")
        return value

    @property
    def name(self) -> str:
        return f"{self.org}/{self.image}"


def load_recipe(directory: Path) -> Recipe:
    """DIR/build.yml, validated; problems are reported as the system YAML's are:
    every one at once, each as FILE:LINE:COL, with the closest key for a typo."""
    path = directory / "build.yml"
    if not directory.is_dir():
        raise DistrokitError(f"package directory {directory} not found")
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise DistrokitError(f"{path} not found: a package directory needs a build.yml") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DistrokitError(f"cannot read {path}: {exc}") from None
    doc = parse(text, str(path))
    if not isinstance(doc.data, dict):
        raise DistrokitError(f"{path}: expected a mapping with at least 'image'")
    try:
        return Recipe.model_validate(doc.data)
    except ValidationError as exc:
        raise ConfigError(explain(exc, Recipe, doc.where.place, "build.yml")) from None
