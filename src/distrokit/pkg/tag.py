"""Package tags: a content hash of the package directory and of the Debian
package versions it resolves to, so that any change gives a new tag and an
unchanged package is never rebuilt."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

# Bumped whenever the image builder changes what it writes for the same input.
BUILDER_VERSION = "2"
TAG_LENGTH = 20


def directory_digest(directory: Path) -> Iterable[str]:
    """One line per file, directory and symlink of the package directory, sorted."""
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        rel_root = Path(root).relative_to(directory)
        for name in sorted(files) + [d for d in dirs if (Path(root) / d).is_symlink()]:
            path = Path(root) / name
            rel = (rel_root / name).as_posix()
            if path.is_symlink():
                yield f"symlink {rel} {os.readlink(path)}"
            else:
                content = hashlib.sha256(path.read_bytes()).hexdigest()
                executable = "x" if os.access(path, os.X_OK) else "-"
                yield f"file {rel} {executable} {content}"


def package_tag(directory: Path, debian_versions: Iterable[str], mtime: int = 0) -> str:
    h = hashlib.sha256()
    h.update(f"distrokit-package {BUILDER_VERSION}\n".encode())
    if mtime:  # 0, the default, keeps the tags of earlier builds
        h.update(f"mtime {mtime}\n".encode())
    for line in directory_digest(directory):
        h.update(line.encode() + b"\n")
    for line in debian_versions:
        h.update(f"deb {line}\n".encode())
    return h.hexdigest()[:TAG_LENGTH]
