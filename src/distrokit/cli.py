"""Command line: parse arguments, call one stage per verb. (Skeleton; filled in as stages land.)"""

from __future__ import annotations

import sys

from distrokit import __version__


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--version"]:
        print(f"distrokit {__version__}")
        return 0
    return 2


def entry() -> None:
    sys.exit(main())
