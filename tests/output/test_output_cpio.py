"""The newc writer: read back by a tiny parser here and by GNU cpio."""

from __future__ import annotations

import io
import os
import shutil
import stat
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from distrokit.log import DistrokitError
from distrokit.output.cpio import write_cpio
from distrokit.stream import Entry, Kind, directory, file, symlink


@dataclass
class Member:
    name: str
    ino: int
    mode: int
    uid: int
    gid: int
    nlink: int
    mtime: int
    data: bytes
    rdev: tuple[int, int]


def parse_newc(blob: bytes) -> list[Member]:
    """Every member up to (not including) the trailer, checking the padding."""
    members: list[Member] = []
    pos = 0
    while True:
        assert pos % 4 == 0
        assert blob[pos:pos + 6] == b"070701", f"bad magic at {pos}"
        f = [int(blob[pos + 6 + 8 * i: pos + 14 + 8 * i], 16) for i in range(13)]
        ino, mode, uid, gid, nlink, mtime, size, _, _, rmaj, rmin, namesize, check = f
        assert check == 0
        name_end = pos + 110 + namesize
        assert blob[name_end - 1] == 0
        name = blob[pos + 110: name_end - 1].decode()
        data_at = name_end + (-name_end & 3)
        assert blob[name_end:data_at] == b"\0" * (data_at - name_end)
        data = blob[data_at:data_at + size]
        pos = data_at + size + (-(data_at + size) & 3)
        if name == "TRAILER!!!":
            assert pos == len(blob)
            return members
        members.append(Member(name, ino, mode, uid, gid, nlink, mtime, data, (rmaj, rmin)))


def sample() -> list[Entry]:
    return [
        directory("etc", mode=0o755, mtime=100),
        file("etc/hostname", b"box\n", mtime=200),
        file("usr/bin/tool", b"\x7fELF" + bytes(range(256)) * 40, mode=0o4755, uid=1, gid=2),
        Entry("usr/bin/tool-again", Kind.HARDLINK, linkname="usr/bin/tool"),
        Entry("sbin/tool", Kind.HARDLINK, linkname="usr/bin/tool"),
        symlink("bin", "usr/bin"),
        Entry("dev/null", Kind.CHAR, mode=0o666, devmajor=1, devminor=3),
        Entry("dev/sda", Kind.BLOCK, mode=0o660, devmajor=8, devminor=0),
        Entry("run/fifo", Kind.FIFO, mode=0o600),
        file("empty", b""),
        file("a/b/c/deep", b"x", mtime=7),
        directory("a/b", mode=0o700),  # re-stated after being synthesised: mode updated
    ]


def write(entries: Iterable[Entry], **kw: int) -> bytes:
    out = io.BytesIO()
    write_cpio(entries, out, **kw)
    return out.getvalue()


def test_round_trip_with_the_parser() -> None:
    members = parse_newc(write(sample(), mtime_default=42))
    by_name = {m.name: m for m in members}
    names = [m.name for m in members]

    # Parents come before their contents, synthesised ones root-owned 0755.
    for m in members:
        parent = os.path.dirname(m.name)
        if parent:
            assert parent in names[: names.index(m.name)], m.name
    assert by_name["usr"].mode == stat.S_IFDIR | 0o755
    assert by_name["usr"].mtime == 42 and by_name["usr"].nlink == 2
    assert by_name["etc"].mtime == 100
    assert names.count("a/b") == 2 and by_name["a/b"].mode == stat.S_IFDIR | 0o700

    tool = by_name["usr/bin/tool"]
    assert tool.mode == stat.S_IFREG | 0o4755 and (tool.uid, tool.gid) == (1, 2)
    assert tool.data == b"\x7fELF" + bytes(range(256)) * 40 and tool.nlink == 1
    assert by_name["etc/hostname"].data == b"box\n"
    assert by_name["empty"].data == b""

    assert by_name["bin"].mode == stat.S_IFLNK | 0o777 and by_name["bin"].data == b"usr/bin"
    # Hard links become relative symlinks to their target.
    assert by_name["usr/bin/tool-again"].mode == stat.S_IFLNK | 0o777
    assert by_name["usr/bin/tool-again"].data == b"tool"
    assert by_name["sbin/tool"].data == b"../usr/bin/tool"

    assert by_name["dev/null"].mode == stat.S_IFCHR | 0o666
    assert by_name["dev/null"].rdev == (1, 3)
    assert by_name["dev/sda"].mode == stat.S_IFBLK | 0o660
    assert by_name["dev/sda"].rdev == (8, 0)
    assert by_name["run/fifo"].mode == stat.S_IFIFO | 0o600

    # Inodes are sequential from 1: deterministic.
    assert [m.ino for m in members] == list(range(1, len(members) + 1))


def test_deterministic() -> None:
    assert write(sample()) == write(sample())


def test_duplicates_and_root_entry() -> None:
    members = parse_newc(write([directory(""), file("x", b"1"), file("x", b"22")]))
    assert [(m.name, m.data) for m in members] == [("x", b"1"), ("x", b"22")]


def test_empty_stream_is_just_a_trailer() -> None:
    assert parse_newc(write([])) == []


@pytest.mark.parametrize("declared", [3, 10])
def test_size_mismatch_is_an_error(declared: int) -> None:
    bad = Entry("f", Kind.FILE, size=declared, data=io.BytesIO(b"12345"))
    with pytest.raises(DistrokitError, match="declared size"):
        write([bad])


def test_data_is_read_before_the_next_entry() -> None:
    """A file object valid only until the next entry (as from a streamed tar)."""
    shared = io.BytesIO()

    def entries() -> Iterator[Entry]:
        for i in range(3):
            content = f"content {i}".encode()
            shared.seek(0)
            shared.truncate()
            shared.write(content)
            shared.seek(0)
            yield Entry(f"f{i}", Kind.FILE, size=len(content), data=shared)

    members = parse_newc(write(entries()))
    assert [m.data for m in members] == [b"content 0", b"content 1", b"content 2"]


@pytest.mark.skipif(shutil.which("cpio") is None, reason="GNU cpio not installed")
def test_gnu_cpio_reads_it(tmp_path: Path) -> None:
    archive = write(sample())
    listing = subprocess.run(["cpio", "-it", "--quiet"], input=archive, capture_output=True,
                             check=True).stdout.decode().split()
    assert "usr/bin/tool" in listing and "dev/null" in listing

    root = tmp_path / "root"
    root.mkdir()
    subprocess.run(["cpio", "-idm", "--quiet", "--no-absolute-filenames"], input=archive,
                   cwd=root, check=True, capture_output=True)
    tool = root / "usr/bin/tool"
    assert tool.read_bytes() == b"\x7fELF" + bytes(range(256)) * 40
    assert stat.S_IMODE(tool.stat().st_mode) == 0o4755 or os.geteuid() != 0
    assert (root / "etc/hostname").read_text() == "box\n"
    assert os.readlink(root / "bin") == "usr/bin"
    assert os.readlink(root / "sbin/tool") == "../usr/bin/tool"
    assert (root / "sbin/tool").read_bytes() == tool.read_bytes()
    assert (root / "a/b/c/deep").read_bytes() == b"x"
    assert (root / "a/b/c/deep").stat().st_mtime == 7
    assert stat.S_ISFIFO((root / "run/fifo").lstat().st_mode)
    if os.geteuid() == 0:
        null = (root / "dev/null").lstat()
        assert stat.S_ISCHR(null.st_mode) and os.major(null.st_rdev) == 1
        assert os.minor(null.st_rdev) == 3
        assert (root / "usr/bin/tool").stat().st_uid == 1
