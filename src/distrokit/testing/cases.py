"""Test cases as directories, as LinuxKit's rtf lays them out (see
docs/testing.md): a ``test.yml`` to build, and either a ``test.sh`` run on
the host or a ``test.expect`` script of console expectations. Headers in
either file: ``# SUMMARY:``, ``# LABELS:``, and distrokit's ``# TIMEOUT:``.
Names are dotted paths with the ``NNN_`` ordering prefixes removed:
``tests/cases/010_pass`` is ``cases.pass``.
"""

from __future__ import annotations

import fnmatch
import platform
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from distrokit.log import DistrokitError

DEFAULT_TIMEOUT = 300.0
SCRIPT = "test.sh"
EXPECT = "test.expect"
YAML = "test.yml"
_HEADER = re.compile(r"^#\s*([A-Z]+):\s*(.*?)\s*$")
_ORDER = re.compile(r"^\d+_")


@dataclass(frozen=True)
class Step:
    """One line of a test.expect: what to do, its argument, where it is."""

    action: str  # expect, reject, send, run, poweroff, disk, data, cmdline, mem
    arg: str
    line: int


@dataclass
class Case:
    name: str
    path: Path
    summary: str = ""
    labels: list[str] = field(default_factory=list)
    timeout: float = DEFAULT_TIMEOUT
    script: Path | None = None
    expect: Path | None = None

    @property
    def yaml(self) -> Path:
        return self.path / YAML

    def skip_reason(self, run_labels: set[str]) -> str | None:
        """Why the case does not run with these labels (None: it runs).
        A plain label must be given; a ``!label`` must not be."""
        for label in self.labels:
            if label.startswith("!"):
                if label[1:] in run_labels:
                    return f"label {label}"
            elif label not in run_labels:
                return f"needs label {label}"
        return None


def host_labels() -> set[str]:
    """Labels every run has: the architecture (amd64, arm64...) and os."""
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    return {arch, platform.system().lower()}


def discover(paths: list[Path]) -> list[Case]:
    """Every case under the given directories, in path order."""
    cases: list[Case] = []
    for root in paths:
        if not root.is_dir():
            raise DistrokitError(f"{root}: no such directory")
        found = sorted(p.parent for p in root.rglob(YAML) if _is_case(p.parent))
        if not found:
            raise DistrokitError(f"{root}: no test cases",
                                 f"a case is a directory with {YAML} and {SCRIPT} or {EXPECT}")
        base = root.resolve().parent
        for directory in found:
            parts = directory.resolve().relative_to(base).parts
            name = ".".join(_ORDER.sub("", part) for part in parts)
            cases.append(read_case(name, directory))
    names = [c.name for c in cases]
    for name in names:
        if names.count(name) > 1:
            raise DistrokitError(f"two test cases are named {name}")
    return cases


def _is_case(directory: Path) -> bool:
    return (directory / SCRIPT).is_file() or (directory / EXPECT).is_file()


def read_case(name: str, directory: Path) -> Case:
    script = directory / SCRIPT
    expect = directory / EXPECT
    if script.is_file() and expect.is_file():
        raise DistrokitError(f"{directory}: has both {SCRIPT} and {EXPECT}", "keep one")
    source = script if script.is_file() else expect
    case = Case(name, directory, script=script if script.is_file() else None,
                expect=expect if expect.is_file() else None)
    for number, line in enumerate(source.read_text().splitlines(), 1):
        match = _HEADER.match(line)
        if not match:
            continue
        key, value = match.groups()
        if key == "SUMMARY":
            case.summary = value
        elif key == "LABELS":
            case.labels = [v for v in re.split(r"[,\s]+", value) if v]
        elif key == "TIMEOUT":
            try:
                case.timeout = float(value)
            except ValueError:
                raise DistrokitError(f"{source}:{number}: TIMEOUT must be seconds, "
                                     f"not {value!r}") from None
    return case


ACTIONS = {"expect", "reject", "send", "run", "poweroff", "disk", "data", "cmdline", "mem"}


def read_steps(path: Path) -> list[Step]:
    """The steps of a test.expect; every mistake names its line."""
    steps: list[Step] = []
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        action, _, arg = line.partition(" ")
        arg = arg.strip()
        where = f"{path}:{number}"
        if action not in ACTIONS:
            raise DistrokitError(f"{where}: unknown step {action!r}",
                                 f"one of {', '.join(sorted(ACTIONS))}")
        if action == "poweroff" and arg:
            raise DistrokitError(f"{where}: poweroff takes no argument")
        if action != "poweroff" and not arg:
            raise DistrokitError(f"{where}: {action} needs an argument")
        if action in ("expect", "reject"):
            try:
                re.compile(arg)
            except re.error as exc:
                raise DistrokitError(f"{where}: bad regular expression: {exc}") from None
        if action == "send":
            arg = _unquote(arg, where)
        if action == "mem" and not arg.isdigit():
            raise DistrokitError(f"{where}: mem takes megabytes")
        steps.append(Step(action, arg, number))
    return steps


def _unquote(text: str, where: str) -> str:
    """``send`` text may be shell-quoted to keep spaces or be empty: ''."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise DistrokitError(f"{where}: {exc}") from None
    return " ".join(words)


def matches(name: str, patterns: list[str]) -> bool:
    """Whether a case name matches any glob (or is below a dotted prefix)."""
    return any(fnmatch.fnmatchcase(name, p) or name.startswith(p.rstrip(".") + ".")
               or name == p for p in patterns)
