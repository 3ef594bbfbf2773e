"""Read one or more system descriptions, check them, resolve templates, merge.

The pipeline, for every source (a path, ``-`` for stdin, an http(s) URL):
parse with positions, validate against the schema, and only when every source
is valid resolve the ``@pkg:`` templates (they may be slow), merge as LinuxKit
does, then run the checks the schema cannot express. Each stage collects all
its problems and raises one ConfigError listing them.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
from pydantic import ValidationError

from ..log import DistrokitError, warn
from .explain import describe, explain, loc_text
from .problems import ConfigError, Problem
from .schema import ImageConfig, Kernel, System
from .yamlpos import TEMPLATE_PREFIX, Document, Where, get_at, parse, set_at, shift

ResolvePkg = Callable[[Path], str]

LISTS = ("init", "onboot", "onshutdown", "services", "files", "volumes")
VOLUME_NAME = re.compile(r"^[a-z0-9_-]+$")
PLATFORM = re.compile(r"^[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?$")
LABEL = "org.mobyproject.config"


def load(sources: Sequence[str], resolve_pkg: ResolvePkg | None = None) -> System:
    """The merged system described by ``sources``, in order.

    ``resolve_pkg`` turns the directory of an ``@pkg:PATH`` template into an
    image reference; without it templates are left as written.
    """
    if not sources:
        raise DistrokitError("no system description given")
    texts: list[tuple[str, str, Path | None] | Problem] = []
    for source in sources:
        try:
            texts.append(_read(source))
        except DistrokitError as e:
            texts.append(Problem(str(e), None))
    return _build(texts, resolve_pkg)


def load_text(
    text: str,
    name: str = "<text>",
    base: Path | None = None,
    resolve_pkg: ResolvePkg | None = None,
) -> System:
    """One system description given as text (tests, generated configs);
    ``base`` is the directory ``@pkg:`` paths are relative to."""
    return _build([(text, name, base)], resolve_pkg)


def _build(
    texts: Sequence[tuple[str, str, Path | None] | Problem], resolve_pkg: ResolvePkg | None
) -> System:
    problems: list[Problem] = []
    read: list[tuple[Document, Path | None]] = []
    for order, item in enumerate(texts):
        if isinstance(item, Problem):
            problems.append(item)
            continue
        text, name, base = item
        try:
            read.append((parse(text, name, order), base))
        except ConfigError as e:
            problems += e.found

    checked: list[tuple[System, Where]] = []
    for doc, _ in read:
        try:
            checked.append((_validate(doc), doc.where))
        except ConfigError as e:
            problems += e.found
    if problems:
        raise ConfigError(problems)

    if resolve_pkg is not None:
        checked = [(_resolve_templates(doc, base, resolve_pkg), doc.where) for doc, base in read]
    system, where = merge(checked)
    problems = check(system, where)
    if problems:
        raise ConfigError(problems)
    return system


def _read(source: str) -> tuple[str, str, Path | None]:
    """Text, display name and template base directory (None: templates not allowed)."""
    base: Path | None = None
    if source == "-":
        name = "<stdin>"
        if sys.stdin is None:  # started without a standard input at all
            raise DistrokitError("cannot read '-': there is no standard input")
        raw = sys.stdin.buffer.read()
    elif source.startswith(("http://", "https://")):
        name = source
        try:
            response = httpx.get(source, follow_redirects=True, timeout=30)
        except (httpx.HTTPError, httpx.InvalidURL) as e:
            raise DistrokitError(f"cannot fetch {source}: {e}") from None
        if response.status_code >= 400:
            raise DistrokitError(
                f"cannot fetch {source}: HTTP {response.status_code} {response.reason_phrase}"
            )
        raw = response.content
    else:
        name = source
        base = Path(source).parent
        try:
            raw = Path(source).read_bytes()
        except (OSError, ValueError) as e:  # ValueError: a NUL in the path
            raise DistrokitError(
                f"cannot read {source}: {getattr(e, 'strerror', None) or e}"
            ) from None
    try:
        return raw.decode("utf-8-sig"), name, base
    except UnicodeDecodeError as e:
        raise DistrokitError(f"{name}: not UTF-8 text (byte {e.start})") from None


def _validate(doc: Document) -> System:
    if doc.data is None:  # an empty file describes nothing, and that is fine
        doc.data = {}
    if isinstance(doc.data, dict):
        # "onboot:" with every entry commented out is an empty list (as in LinuxKit).
        for key in LISTS:
            if key in doc.data and doc.data[key] is None:
                doc.data[key] = []
    try:
        system = System.model_validate(doc.data)
    except ValidationError as e:
        raise ConfigError(explain(e, System, doc.where.place, "the top level")) from None
    if system.trust is not None:
        warn(f"{doc.where.key(('trust',))}: 'trust' is obsolete and ignored")
    return system


def _resolve_templates(doc: Document, base: Path | None, resolve_pkg: ResolvePkg) -> System:
    for loc in doc.templates:
        pos = doc.where.value(loc)
        value = get_at(doc.data, loc)
        target = Path(value[len(TEMPLATE_PREFIX) :])
        if base is None and not target.is_absolute():
            raise ConfigError([Problem(
                f"{value}: a relative @pkg: path needs a local file to be relative to", pos)])
        try:
            set_at(doc.data, loc, resolve_pkg(target if base is None else base / target))
        except DistrokitError as e:
            raise ConfigError([Problem(e.message, pos)], e.hint) from None
    return System.model_validate(doc.data)


def merge(parts: Sequence[tuple[System, Where]]) -> tuple[System, Where]:
    """Merge as LinuxKit does: a later non-empty kernel field replaces an earlier
    one (tar and ucode: any later value, since "" means "none"); the lists are
    concatenated. Positions follow the values."""
    kernel: dict[str, Any] = {}
    lists: dict[str, list[Any]] = {name: [] for name in LISTS}
    where = Where()
    for system, part_where in parts:
        offsets = {name: len(lists[name]) for name in LISTS}
        taken = set()
        for name in system.kernel.model_fields_set:
            value = getattr(system.kernel, name)
            if value != "" or name in ("tar", "ucode"):
                kernel[name] = value
                taken.add(name)
        for name in LISTS:
            lists[name] += getattr(system, name)
        moved = shift(part_where, offsets)
        for mine, theirs in ((where.values, moved.values), (where.keys, moved.keys)):
            for loc, pos in theirs.items():
                if loc[:1] == ("kernel",) and len(loc) > 1 and loc[1] in taken:
                    mine[loc] = pos
                else:
                    mine.setdefault(loc, pos)
    merged = System.model_validate({"kernel": Kernel.model_validate(kernel), **lists})
    merged._where = where
    return merged, where


def check(system: System, where: Where) -> list[Problem]:
    """What the schema cannot say: unique names, usable names, file rules, ids."""
    return [
        *_check_names(system, where),
        *_check_volumes(system, where),
        *_check_files(system, where),
        *_check_ids(system, where),
    ]


def _check_names(system: System, where: Where) -> list[Problem]:
    problems = []
    # Services run side by side in containerd, so their names must differ;
    # LinuxKit allows repeated onboot/onshutdown names (they are numbered).
    seen: dict[str, int] = {}
    for section, i, c in system.containers():
        loc = (section, i, "name")
        if c.name in ("", ".", "..") or "/" in c.name or "\0" in c.name:
            problems.append(
                Problem(
                    f"{loc_text(loc)}: {c.name!r} is not a usable container name"
                    " (it names a directory: not empty, no '/')",
                    where.value(loc),
                )
            )
        if section != "services":
            continue
        if c.name in seen:
            first = where.value(("services", seen[c.name], "name"))
            problems.append(
                Problem(
                    f"duplicate service name {c.name!r} (first used at {first})",
                    where.value(loc),
                )
            )
        else:
            seen[c.name] = i
    return problems


def _check_volumes(system: System, where: Where) -> list[Problem]:
    problems = []
    seen: dict[str, int] = {}
    for i, v in enumerate(system.volumes):
        loc = ("volumes", i, "name")
        if not VOLUME_NAME.match(v.name):
            problems.append(
                Problem(
                    f"invalid volume name {v.name!r} (use a-z, 0-9, '_' and '-')",
                    where.value(loc),
                )
            )
        elif v.name in seen:
            first = where.value(("volumes", seen[v.name], "name"))
            problems.append(
                Problem(
                    f"duplicate volume name {v.name!r} (first used at {first})", where.value(loc)
                )
            )
        else:
            seen[v.name] = i
        if v.format == "oci" and not v.image:
            problems.append(Problem(f"volumes[{i}]: format oci needs an image",
                                    where.key(("volumes", i, "format"))))
        for j, platform in enumerate(v.platforms or []):
            if not PLATFORM.match(platform):
                where_ = ("volumes", i, "platforms", j)
                problems.append(Problem(f"{loc_text(where_)}: {platform!r} is not a platform "
                                        "like linux/amd64 or linux/arm/v7", where.value(where_)))
    for use, source, options in volume_uses(system):
        volume = system.volume(source)
        if volume is None:
            problems.append(Problem(f"{loc_text(use)}: no volume is named {source!r} (a bind "
                                    "source not starting with '/' names a volume)",
                                    where.value(use)))
        elif volume.readonly and not ("ro" in options and "rw" not in options):
            problems.append(Problem(f"{loc_text(use)}: volume {source!r} is read-only: "
                                    "bind it with the option ro", where.value(use)))
    return problems


def volume_uses(system: System) -> list[tuple[tuple[str | int, ...], str, list[str]]]:
    """Every bind of a volume written in the containers (``binds``, ``binds.add``,
    bind ``mounts`` whose source does not start with '/'), as LinuxKit finds
    them: (where it is, the volume's name, the bind's options)."""
    found: list[tuple[tuple[str | int, ...], str, list[str]]] = []
    for section, i, c in system.containers():
        for key in ("binds", "binds.add"):
            for j, text in enumerate(getattr(c, key.replace(".", "_")) or []):
                parts = text.split(":")
                if parts[0] and not parts[0].startswith("/"):
                    options = parts[2].split(",") if len(parts) > 2 else []
                    found.append(((section, i, key, j), parts[0], options))
        for j, m in enumerate(c.mounts or []):
            if m.type == "bind" and m.source and not m.source.startswith("/"):
                found.append(((section, i, "mounts", j, "source"), m.source, m.options or []))
    return found


def _check_files(system: System, where: Where) -> list[Problem]:
    """LinuxKit's rules (moby/build filesystem()), checked before the build."""
    problems = []
    for i, f in enumerate(system.files):
        here = ("files", i)

        def problem(key: str, text: str, here: tuple[str, int] = here) -> None:
            problems.append(Problem(f"{loc_text(here)}: {text}", where.key((*here, key))))

        def bad_value(key: str, text: str, here: tuple[str, int] = here) -> None:
            loc = (*here, key)
            problems.append(Problem(f"{loc_text(loc)}: {text}", where.value(loc)))

        if f.path.strip("/") == "":
            bad_value("path", "must name a file, not be empty or /")
        elif ".." in f.path.split("/"):
            bad_value("path", f"{f.path!r} must not contain '..': files stay inside the system")
        if f.mode and not re.fullmatch(r"[0-7]{1,4}", f.mode):
            bad_value("mode", f'{f.mode!r} is not an octal file mode like "0644"')
        if f.metadata not in ("", "yaml", "json"):
            bad_value("metadata", f"expected yaml or json, got {f.metadata!r}")
        given = [
            key
            for key, on in (
                ("directory", f.directory),
                ("symlink", f.symlink != ""),
                ("contents", f.contents is not None),
            )
            if on
        ]
        if not given:
            if not f.source and not f.metadata:
                problem(
                    "path",
                    f"nothing to write at {f.path!r}: give contents, source, metadata, "
                    "symlink or directory: true",
                )
            elif f.source and f.metadata:
                problem("metadata", "source and metadata cannot both be given")
        else:
            for key in ("source", "metadata"):
                if getattr(f, key):
                    problem(key, f"{key} cannot be combined with {given[0]}")
        if f.directory and f.contents is not None:
            problem("contents", "a directory cannot have contents")
    return problems


def _check_ids(system: System, where: Where) -> list[Problem]:
    """A uid/gid given as a name takes the id LinuxKit allots that container."""
    known = {"", "root"} | {c.name for _, _, c in system.containers()}
    found: list[tuple[tuple[str | int, ...], Any]] = []
    for section, i, c in system.containers():
        found += [((section, i, "uid"), c.uid), ((section, i, "gid"), c.gid)]
        found += [
            ((section, i, "additionalGids", j), g) for j, g in enumerate(c.additional_gids or [])
        ]
    for i, f in enumerate(system.files):
        found += [(("files", i, "uid"), f.uid), (("files", i, "gid"), f.gid)]
    problems = []
    for loc, value in found:
        if isinstance(value, str) and value not in known:
            hint = " (write numbers without quotes)" if value.isdigit() else ""
            problems.append(
                Problem(f"{loc_text(loc)}: no container is named {value!r}{hint}", where.value(loc))
            )
    return problems


def validate_label(data: object, image: str) -> dict[str, Any]:
    """Check an image's ``org.mobyproject.config`` label (JSON text or parsed),
    a container entry without name and image; return the keys it sets."""
    prefix = f"image {image}: label {LABEL}: "
    if isinstance(data, str | bytes):
        try:
            data = json.loads(data)
        except ValueError as e:
            raise ConfigError([Problem(f"{prefix}not valid JSON: {e}", None)]) from None
    if not isinstance(data, dict):
        raise ConfigError([Problem(f"{prefix}expected a JSON object, got {describe(data)}", None)])
    problems = [
        Problem(f"{prefix}{key!r} cannot be set in a label", None)
        for key in ("name", "image")
        if key in data
    ]
    rest = {k: v for k, v in data.items() if k not in ("name", "image")}
    try:
        config = ImageConfig.model_validate(rest)
    except ValidationError as e:
        found = explain(e, ImageConfig, lambda loc, at_key: None, "")
        problems += [Problem(prefix + p.text, None) for p in found]
    if problems:
        raise ConfigError(problems)
    return config.model_dump(by_alias=True, exclude_unset=True)
