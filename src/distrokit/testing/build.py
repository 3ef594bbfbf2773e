"""Building a system for a test: ``distrokit build`` in a subprocess (its own
cache lock, its own log file, killable on Ctrl-C), kernel+initrd by default."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from distrokit.log import DistrokitError
from distrokit.testing import reaper


def cache_dir() -> Path | None:
    """The cache tests build with: $DISTROKIT_TEST_CACHE, else distrokit's own
    default ($DISTROKIT_CACHE or the user's cache), shared with the user's builds."""
    value = os.environ.get("DISTROKIT_TEST_CACHE")
    return Path(value) if value else None


def build_artifact(sources: Sequence[str | Path], outdir: Path, name: str, *,
                   log: Path, cache: Path | None = None) -> Path:
    """Build the YAML files into ``outdir``; return the ``outdir/name``
    prefix of the kernel+initrd output. The build's output goes to ``log``;
    a failure raises a DistrokitError quoting its last lines."""
    outdir.mkdir(parents=True, exist_ok=True)
    cache = cache or cache_dir()
    argv = [sys.executable, "-m", "distrokit"]
    if cache is not None:
        argv += ["--cache", str(cache)]
    argv += ["build", "--dir", str(outdir), "--name", name, *map(str, sources)]
    with log.open("wb") as out:
        out.write(("+ " + " ".join(argv) + "\n").encode())
        out.flush()
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        reaper.register(process)
        try:
            rc = process.wait()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            reaper.unregister(process)
    if rc != 0:
        lines = log.read_text(errors="replace").strip().splitlines()
        raise DistrokitError(f"building {', '.join(map(str, sources))} failed: "
                             f"{lines[-1] if lines else f'exit {rc}'}", f"see {log}")
    return outdir / name


def sources_key(sources: Sequence[str | Path]) -> str:
    """A short key for a list of YAML files and their contents (the packages
    they name are tagged by content in the cache anyway)."""
    digest = hashlib.sha256()
    for source in sources:
        path = Path(source).resolve()
        digest.update(str(path).encode() + b"\0")
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
