"""End to end: build examples/hello.yml from the packages in packages/ with the
real Debian archive, boot it in QEMU and watch the console."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from distrokit.cli import main

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.network, pytest.mark.boot]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Share the user's cache (the README's first command fills it) unless told otherwise.
    from distrokit.image.cache import default_cache_dir

    env = os.environ.get("DISTROKIT_TEST_CACHE")
    return Path(env) if env else default_cache_dir()


@pytest.fixture(scope="module")
def hello(cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("hello")
    code = main(["--cache", str(cache_dir), "build", "--dir", str(out),
                 str(ROOT / "examples" / "hello.yml")])
    assert code == 0
    return out


def test_hello_build_outputs(hello: Path) -> None:
    kernel = hello / "hello-kernel"
    assert kernel.read_bytes()[0x202:0x206] == b"HdrS"  # a bzImage
    assert (hello / "hello-initrd.img").stat().st_size > 1_000_000
    assert "console=ttyS0" in (hello / "hello-cmdline").read_text()


def test_hello_is_reproducible(hello: Path, cache_dir: Path, tmp_path: Path) -> None:
    assert main(["--cache", str(cache_dir), "build", "--dir", str(tmp_path),
                 str(ROOT / "examples" / "hello.yml")]) == 0
    for part in ("kernel", "initrd.img", "cmdline"):
        assert (tmp_path / f"hello-{part}").read_bytes() == (hello / f"hello-{part}").read_bytes()


@pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None, reason="needs qemu-system-x86")
def test_hello_boots_and_powers_off(hello: Path, cache_dir: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "distrokit", "--cache", str(cache_dir), "run", "qemu",
         "--timeout", "240", str(hello / "hello")],
        stdin=subprocess.DEVNULL, capture_output=True, timeout=300,
    )
    console = result.stdout.decode(errors="replace")
    assert "Welcome to distrokit" in console, console[-3000:]
    assert "hello from an onboot container" in console, console[-3000:]
    assert "hello from a service" in console, console[-3000:]
    assert result.returncode == 0, console[-3000:] + result.stderr.decode(errors="replace")
