"""distrokit's pytest plugin (registered through the ``pytest11`` entry
point, so any project with distrokit installed has it):

- ``distrokit_build(*yaml_files, name=None) -> Path``: builds once per
  session (per xdist worker) and returns the kernel+initrd prefix;
- ``distrokit_boot(artifact_or_yaml, **options) -> VM``: boots (building
  first when given .yml files); every VM is stopped at the end of the test;
- each VM's console is kept in the test's directory (``console.log``,
  ``console-2.log``, ...) and its tail is shown when the test fails;
- ``--distrokit-echo`` copies the consoles to the terminal as they come.

See docs/testing.md.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from distrokit.testing import reaper
from distrokit.testing.build import build_artifact, sources_key
from distrokit.testing.vm import VM

_VMS = pytest.StashKey[list[VM]]()
_TAIL = 60


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("distrokit")
    group.addoption("--distrokit-echo", action="store_true",
                    help="copy the test VMs' consoles to the terminal")
    group.addoption("--distrokit-accel", default="auto", choices=["auto", "kvm", "tcg"],
                    help="QEMU acceleration for test VMs (default auto)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "boot: builds a system and boots it in QEMU (slow)")
    reaper.install_signal_handlers()


class Builder:
    """Builds YAML files into kernel+initrd outputs, once per session."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._built: dict[str, Path] = {}

    def __call__(self, *sources: str | Path, name: str | None = None) -> Path:
        if not sources:
            raise ValueError("distrokit_build needs at least one YAML file")
        key = sources_key(sources)
        if key not in self._built:
            name = name or re.sub(r"\.ya?ml$", "", Path(sources[0]).name)
            outdir = self.root / key
            self._built[key] = build_artifact(sources, outdir, name, log=outdir / "build.log")
        return self._built[key]


@pytest.fixture(scope="session")
def distrokit_build(tmp_path_factory: pytest.TempPathFactory) -> Builder:
    """``distrokit_build("a.yml", "b.yml")``: the built system's D/N prefix."""
    return Builder(tmp_path_factory.mktemp("distrokit-build"))


@pytest.fixture
def distrokit_boot(request: pytest.FixtureRequest, tmp_path: Path,
                   distrokit_build: Builder) -> Iterator[Callable[..., VM]]:
    """``distrokit_boot(path, **options)``: a running :class:`VM`. ``path``
    is a built output (D/N, an ISO, a disk image) or one or more YAML files
    (a list), built first. Options are :class:`VM`'s (mem_mb, disks, data,
    cmdline, forwards, ssh, ...)."""
    vms: list[VM] = []
    request.node.stash[_VMS] = vms
    echo = sys.stdout.buffer if request.config.getoption("distrokit_echo") else None

    def boot(path: str | Path | list[str | Path], **options: Any) -> VM:
        sources = path if isinstance(path, list) else [path]
        if all(str(s).endswith((".yml", ".yaml")) for s in sources):
            artifact: str | Path = distrokit_build(*sources)
        else:
            artifact = str(path)
        n = len(vms) + 1
        options.setdefault("accel", request.config.getoption("distrokit_accel"))
        options.setdefault("echo", echo)
        vm = VM(artifact, state=tmp_path / (f"vm-{n}" if n > 1 else "vm"),
                console_log=tmp_path / (f"console-{n}.log" if n > 1 else "console.log"),
                **options)
        vms.append(vm)
        return vm

    try:
        yield boot
    finally:
        for vm in vms:
            vm.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None],
                              ) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    vms = item.stash.get(_VMS, [])
    if report.failed and vms:
        for vm in vms:
            report.sections.append((f"distrokit console {vm.console_log} (last {_TAIL} lines)",
                                    vm.tail(_TAIL)))
