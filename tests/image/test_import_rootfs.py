"""cache import of a plain root filesystem tar (distrokit's docker format), and
of damaged archives."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from distrokit.cli import main
from distrokit.image.cache import Cache
from distrokit.image.image import Image


def _rootfs_tar(path: Path) -> None:
    with tarfile.open(path, "w") as tar:
        for name, data in {"bin/hello": b"#!/bin/sh\necho hi\n", "etc/motd": b"hi\n"}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_rootfs_tar_imports_as_one_layer_image(tmp_path: Path) -> None:
    _rootfs_tar(tmp_path / "fs.tar")
    cache = tmp_path / "cache"
    assert main(["--cache", str(cache), "cache", "import", str(tmp_path / "fs.tar"),
                 "--name", "local/fs:1"]) == 0
    image = Image.open(Cache(cache), "local/fs:1")
    assert image is not None
    files = {e.path: e.data.read() for e in image.entries() if e.data}
    assert files == {"bin/hello": b"#!/bin/sh\necho hi\n", "etc/motd": b"hi\n"}


def test_rootfs_tar_needs_a_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _rootfs_tar(tmp_path / "fs.tar")
    assert main(["--cache", str(tmp_path / "c"), "cache", "import",
                 str(tmp_path / "fs.tar")]) == 1
    assert "give --name REF" in capsys.readouterr().err


def test_truncated_archive_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _rootfs_tar(tmp_path / "fs.tar")
    data = (tmp_path / "fs.tar").read_bytes()
    (tmp_path / "cut.tar").write_bytes(data[:700])
    assert main(["--cache", str(tmp_path / "c"), "cache", "import", str(tmp_path / "cut.tar"),
                 "--name", "x/y:1"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("distrokit: error: cannot read"), err
    assert Cache(tmp_path / "c").names() == {}
