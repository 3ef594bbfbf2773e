"""Configuration problems: where they are, and the one error that carries them all."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ..log import DistrokitError


@dataclass(frozen=True, order=True)
class Pos:
    """A place in a source: 1-based line and column. ``order`` is the source's
    position on the command line, so problems sort in the order they were read."""

    order: int
    line: int
    col: int
    file: str = field(compare=False)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Problem:
    """One thing wrong; ``pos`` is None when it is not tied to a line (the text
    then names the source itself)."""

    text: str
    pos: Pos | None

    def __str__(self) -> str:
        return f"{self.pos}: {self.text}" if self.pos else self.text


class ConfigError(DistrokitError):
    """Every problem found in the configuration, one ``FILE:LINE:COL: what`` a line,
    in the order they appear in the sources."""

    def __init__(self, problems: Iterable[Problem], hint: str | None = None) -> None:
        ordered = sorted(problems, key=lambda p: (p.pos is not None, p.pos or Pos(0, 0, 0, "")))
        self.found = ordered
        self.problems = [str(p) for p in ordered]
        super().__init__("\n".join(self.problems), hint)
