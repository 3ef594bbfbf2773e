"""YAML text to plain Python data, remembering where every key and value was written.

ruamel.yaml's round-trip loader keeps line/column data on mappings and
sequences; we copy it into a :class:`Where` table keyed by the path of each
node (``("services", 2, "binds", 0)``) so that any later stage can point the
user at the line that caused a problem, without keeping ruamel objects around.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from .problems import ConfigError, Pos, Problem

Loc = tuple[str | int, ...]

# Aliases can make a small file expand enormously ("billion laughs"); no real
# system description comes close to this many nodes.
MAX_NODES = 200_000


@dataclass
class Where:
    """Positions of the values (and of the mapping keys) of one document."""

    values: dict[Loc, Pos] = field(default_factory=dict)
    keys: dict[Loc, Pos] = field(default_factory=dict)

    def value(self, loc: Iterable[str | int]) -> Pos | None:
        """Where the value at ``loc`` is written; if it is not written (a missing
        key), where its closest written parent is."""
        loc = tuple(loc)
        while loc not in self.values and loc:
            loc = loc[:-1]
        return self.values.get(loc)

    def key(self, loc: Iterable[str | int]) -> Pos | None:
        """Where the key naming ``loc`` is written (the value, for list items)."""
        loc = tuple(loc)
        return self.keys.get(loc) or self.value(loc)

    def place(self, loc: Loc, at_key: bool) -> Pos | None:
        return self.key(loc) if at_key else self.value(loc)


@dataclass
class Document:
    """One parsed source: plain data (dicts, lists, str, int, float, bool, None),
    where each part of it was written, and the ``@pkg:`` scalars found in it."""

    name: str
    data: Any
    where: Where
    templates: list[Loc]


TEMPLATE_PREFIX = "@pkg:"


def parse(text: str, name: str, order: int = 0) -> Document:
    """Parse one YAML document; syntax errors raise a one-problem ConfigError."""
    yaml = YAML(typ="rt")
    try:
        tree = yaml.load(text)
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        what = _first_line(e.problem) or _first_line(e.context) or "invalid YAML"
        if what.startswith("found duplicate key"):
            what = what.split(" with value")[0]
        elif what == "but found another document":
            what = "a file holds one YAML document: remove this '---'"
        elif (e.context or "").startswith(("while scanning", "while parsing a flow")):
            # where the unclosed quote or bracket began
            start = e.context_mark
            if start is not None and start != e.problem_mark:
                what += f" ({_first_line(e.context)} at {start.line + 1}:{start.column + 1})"
        if mark is None:
            raise ConfigError([Problem(f"{name}: {what}", None)]) from None
        raise ConfigError(
            [Problem(what, Pos(order, mark.line + 1, mark.column + 1, name))]
        ) from None
    except (YAMLError, ValueError, TypeError) as e:  # ruamel raises a few plain errors too
        raise ConfigError([Problem(f"{name}: invalid YAML: {e}", None)]) from None
    except RecursionError:
        raise ConfigError([Problem(f"{name}: YAML nested too deeply", None)]) from None
    return _Converter(name, order).document(tree)


class _Converter:
    def __init__(self, name: str, order: int) -> None:
        self.name = name
        self.order = order
        self.where = Where()
        self.templates: list[Loc] = []
        self.problems: list[Problem] = []
        self.nodes = 0

    def pos(self, line: int | None, col: int | None) -> Pos:
        return Pos(self.order, (line or 0) + 1, (col or 0) + 1, self.name)

    def document(self, tree: Any) -> Document:
        root = self.pos(0, 0)
        if isinstance(tree, CommentedMap | CommentedSeq):
            root = self.pos(tree.lc.line, tree.lc.col)
        self.where.values[()] = root
        try:
            data = self.convert(tree, (), root, frozenset())
        except RecursionError:
            raise ConfigError([Problem("YAML nested too deeply", root)]) from None
        if self.problems:
            raise ConfigError(self.problems)
        return Document(self.name, data, self.where, self.templates)

    def convert(self, node: Any, loc: Loc, pos: Pos, parents: frozenset[int]) -> Any:
        self.where.values[loc] = pos
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ConfigError([Problem(f"more than {MAX_NODES} values (aliases?)", pos)])
        if isinstance(node, CommentedMap | CommentedSeq):
            if id(node) in parents:
                self.problems.append(Problem("an alias refers to its own parent", pos))
                return None
            parents = parents | {id(node)}
        if isinstance(node, CommentedMap):
            return self.mapping(node, loc, parents)
        if isinstance(node, CommentedSeq):
            out = []
            for i, item in enumerate(node):
                line, col = _lc(node.lc.item, i, pos)
                out.append(self.convert(item, (*loc, i), self.pos(line, col), parents))
            return out
        return self.scalar(node, loc, pos)

    def mapping(self, node: CommentedMap, loc: Loc, parents: frozenset[int]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        here = self.where.values[loc]
        for key, value in node.items():
            kline, kcol = _lc(node.lc.key, key, here)
            key_pos = self.pos(kline, kcol)
            if not isinstance(key, str):
                self.problems.append(Problem(f"keys must be strings, not {key!r}", key_pos))
                continue
            self.where.keys[(*loc, key)] = key_pos
            # An empty value has no place of its own: ruamel gives the next line.
            value_pos = key_pos
            if value is not None:
                value_pos = self.pos(*_lc(node.lc.value, key, here))
            out[key] = self.convert(value, (*loc, key), value_pos, parents)
        return out

    def scalar(self, node: Any, loc: Loc, pos: Pos) -> Any:
        # ruamel wraps scalars in subclasses that keep formatting; unwrap them so
        # the rest of distrokit (and pydantic's strict mode) sees plain types.
        if node is None or isinstance(node, bool):
            return node
        if isinstance(node, str):
            if node.startswith(TEMPLATE_PREFIX):
                self.templates.append(loc)
            return str(node)
        if isinstance(node, int):
            return int(node)
        if isinstance(node, float):
            return float(node)
        if isinstance(node, TaggedScalar):
            # LinuxKit ignores unknown tags and keeps the text; so do we.
            return self.scalar(node.value, loc, pos)
        if isinstance(node, datetime.date):
            return node  # pydantic reports "expected a string, got a date"
        self.problems.append(Problem(f"unsupported YAML value {type(node).__name__}", pos))
        return None


def _lc(getter: Any, key: Any, fallback: Pos) -> tuple[int | None, int | None]:
    """ruamel has no position for keys pulled in by a merge key (``<<: *x``)."""
    try:
        line, col = getter(key)
    except (KeyError, IndexError, TypeError):
        return fallback.line - 1, fallback.col - 1
    return line, col


def set_at(data: Any, loc: Loc, value: Any) -> None:
    """Replace the value at ``loc`` in plain data."""
    for step in loc[:-1]:
        data = data[step]
    data[loc[-1]] = value


def get_at(data: Any, loc: Loc) -> Any:
    for step in loc:
        data = data[step]
    return data


def shift(where: Where, offsets: Mapping[str, int]) -> Where:
    """The same positions, with list indices of the top-level sections moved by
    ``offsets`` (used when documents are concatenated)."""

    def moved(loc: Loc) -> Loc:
        if len(loc) >= 2 and isinstance(loc[0], str) and isinstance(loc[1], int):
            return (loc[0], loc[1] + offsets.get(loc[0], 0), *loc[2:])
        return loc

    return Where(
        {moved(k): v for k, v in where.values.items()},
        {moved(k): v for k, v in where.keys.items()},
    )


def _first_line(text: str | None) -> str:
    """ruamel appends long advice to some messages; the first line says it all."""
    lines = (text or "").strip().splitlines()
    return lines[0] if lines else ""
