"""The one way to fail, and the one way to report progress.

Every expected failure is a :class:`DistrokitError`: the CLI prints its message
as one line (and its hint, when there is one) and exits non-zero. Tracebacks are
shown only with ``--debug``.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn


class DistrokitError(Exception):
    """A failure the user can act on: one line of message, an optional hint."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"


def die(message: str, hint: str | None = None) -> NoReturn:
    raise DistrokitError(message, hint)


class _State:
    verbosity = 0  # -1 quiet, 0 normal, 1 verbose
    depth = 0


def set_verbosity(level: int) -> None:
    _State.verbosity = level


def _emit(prefix: str, message: str) -> None:
    indent = "  " * _State.depth
    print(f"{prefix}{indent}{message}", file=sys.stderr, flush=True)


def info(message: str) -> None:
    if _State.verbosity >= 0:
        _emit("", message)


def debug(message: str) -> None:
    if _State.verbosity >= 1 or os.environ.get("DISTROKIT_DEBUG"):
        _emit("", message)


def warn(message: str) -> None:
    _emit("warning: ", message)


@contextmanager
def step(title: str) -> Iterator[None]:
    """A timed, nested step: shown with -v, silent otherwise."""
    debug(f"{title}...")
    start = time.monotonic()
    _State.depth += 1
    try:
        yield
    finally:
        _State.depth -= 1
        debug(f"{title}: {time.monotonic() - start:.2f}s")
