"""A component recipe: ``DIR/build.yml`` read and validated (see docs/packages.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError

from distrokit.log import DistrokitError

DEFAULT_DROP = ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale",
                "usr/share/lintian", "usr/share/bug")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


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
    image: str = Field(pattern=r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$")
    org: str = Field("distrokit", pattern=r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
    debian: DebianSpec | None = None
    busybox_applets: str | None = Field(None, alias="busybox-applets")
    kernel: bool = False
    files: list[FileSpec] = []
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    env: list[str] = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    workdir: str = "/"
    config: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return f"{self.org}/{self.image}"


def load_recipe(directory: Path) -> Recipe:
    path = directory / "build.yml"
    if not directory.is_dir():
        raise DistrokitError(f"package directory {directory} not found")
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise DistrokitError(f"{path} not found: a package directory needs a build.yml") from None
    yaml = YAML(typ="rt")
    try:
        data = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise DistrokitError(f"{where}: {exc.problem}") from None
    if not isinstance(data, dict):
        raise DistrokitError(f"{path}: expected a mapping with at least 'image'")
    try:
        return Recipe.model_validate(_plain(data))
    except ValidationError as exc:
        problems = [f"{path}:{_position(data, err['loc'])}: {_describe(err)}"
                    for err in exc.errors()]
        raise DistrokitError("\n".join(problems)) from None


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _describe(err: Any) -> str:
    loc = ".".join(str(p) for p in err["loc"]) or "build.yml"
    if err["type"] == "extra_forbidden":
        return f"unknown key {loc!r}"
    return f"{loc}: {err['msg']}"


def _position(data: Any, loc: tuple[Any, ...]) -> str:
    """LINE:COLUMN of the deepest node of loc that the YAML has (1-based)."""
    line, col = 0, 0
    node = data
    for key in loc:
        lc = getattr(node, "lc", None)
        try:
            if isinstance(node, dict) and key in node:
                if lc is not None:
                    line, col = lc.key(key)
                node = node[key]
            elif isinstance(node, list) and isinstance(key, int) and key < len(node):
                if lc is not None:
                    line, col = lc.item(key)
                node = node[key]
            else:
                break
        except (KeyError, TypeError):
            break
    return f"{line + 1}:{col + 1}"
