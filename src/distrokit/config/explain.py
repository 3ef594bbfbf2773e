"""pydantic's validation errors, said in the user's terms and placed on their line."""

from __future__ import annotations

import datetime
import difflib
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from .problems import Pos, Problem

Loc = tuple[str | int, ...]

# What each pydantic error type expected, in YAML words.
_EXPECTED = {
    "string_type": "a string",
    "int_type": "an integer",
    "bool_type": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "int_or_str": "an integer or a string",
    "null": "a value",
}


def loc_text(loc: Sequence[str | int]) -> str:
    """``("services", 1, "binds", 0)`` -> ``services[1].binds[0]``."""
    out = ""
    for step in loc:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else step)
    return out


def describe(value: Any) -> str:
    """A short, user-facing description of a YAML value."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int):
        return f"an integer ({value})"
    if isinstance(value, float):
        return f"a number ({value})"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"a string ({shown!r})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, datetime.date):
        return f"a date ({value.isoformat()})"
    return type(value).__name__


def explain(
    error: ValidationError,
    model: type[BaseModel],
    place: Callable[[Loc, bool], Pos | None],
    root: str,
) -> list[Problem]:
    """One Problem per pydantic error. ``place(loc, at_key)`` finds the position
    of a loc (None where there are no positions, as in image labels); ``root``
    names the top level ("the top level"; "" for an image label)."""
    problems: list[Problem] = []
    for err in error.errors():
        loc: Loc = tuple(err["loc"])
        kind = err["type"]
        if kind == "extra_forbidden":
            key = str(loc[-1])
            inside = _inside(loc[:-1], root)
            text = f"unknown key {key!r}{inside}{_suggest(key, model, loc[:-1])}"
            problems.append(Problem(text, place(loc, True)))
        elif kind == "missing":
            inside = _inside(loc[:-1], root)
            problems.append(Problem(f"missing required key {loc[-1]!r}{inside}", place(loc, False)))
        elif loc and loc[-1] == "[key]":  # a mapping key of the wrong type
            path = loc_text(loc[:-2]) or root
            text = f"{path}: keys must be strings, got {describe(loc[-2])}"
            problems.append(Problem(text, place(loc[:-2], False)))
        else:
            problems.append(Problem(_wrong_value(err, loc, root), place(loc, False)))
    return problems


def _inside(parent: Loc, root: str) -> str:
    if parent:
        return f" in {loc_text(parent)}"
    return f" at {root}" if root else ""


def _wrong_value(err: ErrorDetails, loc: Loc, root: str) -> str:
    kind = err["type"]
    value = err["input"]
    path = loc_text(loc) or root or "the value"
    if kind == "literal_error":
        expected = str((err.get("ctx") or {}).get("expected", "")).replace("'", "").split(" or ")
        return f"{path}: expected one of {', '.join(sorted(expected))}, got {describe(value)}"
    if kind == "value_error":  # our own validators: their message is already the text
        return f"{path}: {err['msg'].removeprefix('Value error, ')}"
    if kind not in _EXPECTED:
        return f"{path}: {err['msg']}"
    text = f"{path}: expected {_EXPECTED[kind]}, got {describe(value)}"
    if kind == "string_type" and isinstance(value, int | float | datetime.date):
        # YAML reads 0644, 1.0, 2024-01-01 and true as non-strings.
        text += " (put it in quotes)"
    return text


def _suggest(key: str, model: type[BaseModel], loc: Loc) -> str:
    owner = model_at(model, loc)
    if owner is None:
        return ""
    names = [f.alias or n for n, f in owner.model_fields.items() if not f.exclude]
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
    if not close:
        close = [n for n in names if n.lower() == key.lower()]
    return f" (did you mean {close[0]!r}?)" if close else ""


def model_at(model: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    """The model class that validates the mapping at ``loc``, if any."""
    current: Any = model
    for step in loc:
        if isinstance(step, int):
            current = _element(current)
        else:
            if not (isinstance(current, type) and issubclass(current, BaseModel)):
                return None
            fields = {f.alias or n: f for n, f in current.model_fields.items()}
            if step not in fields:
                return None
            current = _unwrap(fields[step].annotation)
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """``list[X] | None`` -> ``list[X]``; ``X | None`` -> ``X``."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation


def _element(annotation: Any) -> Any:
    annotation = _unwrap(annotation)
    if typing.get_origin(annotation) is list:
        return _unwrap(typing.get_args(annotation)[0])
    return None
