"""Atomic outputs: every file a format writes is first a hidden temporary
file next to its destination, renamed into place only once the whole format
succeeded, so a failed or interrupted build never leaves a half-written or
mismatched set behind."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from distrokit.log import DistrokitError


class Staging:
    """Temporary files next to their destinations, renamed in at the end."""

    def __init__(self, outdir: Path) -> None:
        self.outdir = outdir
        self.pending: list[tuple[Path, Path]] = []  # (temporary, destination)

    def path(self, dest: Path) -> Path:
        """A fresh temporary path for ``dest`` (for tools that write files)."""
        if dest.is_dir():
            raise DistrokitError(f"cannot write {dest}: it is a directory")
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
        os.close(fd)
        os.chmod(tmp, 0o644)
        self.pending.append((Path(tmp), dest))
        return Path(tmp)

    @contextmanager
    def open(self, dest: Path) -> Iterator[IO[bytes]]:
        with self.path(dest).open("wb") as f:
            yield f

    def commit(self) -> list[Path]:
        done = []
        for tmp, dest in self.pending:
            os.replace(tmp, dest)
            done.append(dest)
        self.pending.clear()
        return done

    def discard(self) -> None:
        for tmp, _ in self.pending:
            tmp.unlink(missing_ok=True)
        self.pending.clear()


@contextmanager
def staged(outdir: Path) -> Iterator[Staging]:
    """A Staging that commits when the block succeeds and discards otherwise."""
    staging = Staging(outdir)
    try:
        yield staging
        staging.commit()
    except BaseException:
        staging.discard()  # whatever was not renamed into place yet
        raise
