"""Formats without building a system: names, tool checks, options, the
stream unpacker, the squashfs loader, boot loader configurations."""

from __future__ import annotations

import os
import threading
import urllib.request
from pathlib import Path

import pytest

from distrokit import stream
from distrokit.log import DistrokitError
from distrokit.output import boot
from distrokit.output.formats import Format
from distrokit.output.iso import volume_label
from distrokit.output.squashfs import extract, loader_entries
from distrokit.output.write import check_formats, parse_formats
from distrokit.serve import ipxe_script, make_server
from distrokit.stream import Entry, Kind


def test_linuxkit_names() -> None:
    names = {f: [p.name for p in f.outputs(Path("d"), "n")] for f in Format}
    assert names[Format.KERNEL_INITRD] == ["n-kernel", "n-initrd.img", "n-cmdline"]
    assert names[Format.TAR_KERNEL_INITRD] == ["n-initrd.tar"]
    assert names[Format.ISO_BIOS] == ["n.iso"]
    assert names[Format.ISO_EFI] == ["n-efi.iso"]
    assert names[Format.RAW_EFI] == ["n-efi.img"]
    assert names[Format.GCP] == ["n.img.tar.gz"]
    assert names[Format.AWS] == ["n.raw"]
    every = [n for f in Format for n in names[f] if not n.endswith(("-kernel", "-cmdline"))]
    assert len(every) == len(set(every))  # no two formats write the same file


def test_parse_formats() -> None:
    assert parse_formats(None) == [Format.KERNEL_INITRD]
    assert parse_formats(["tar", "iso-bios", "tar"]) == [Format.TAR, Format.ISO_BIOS]
    with pytest.raises(DistrokitError, match="unknown format 'floppy'"):
        parse_formats(["floppy"])


def test_missing_tool_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr("shutil.which", lambda *a, **k: None)
    with pytest.raises(DistrokitError) as info:
        check_formats([Format.ISO_BIOS])
    assert info.value.message == "xorriso not found: apt-get install xorriso"
    check_formats([Format.TAR, Format.KERNEL_INITRD])  # need nothing


def test_output_option_needs_one_stream_format() -> None:
    with pytest.raises(DistrokitError, match="-o works"):
        check_formats([Format.TAR, Format.DOCKER], "-")
    with pytest.raises(DistrokitError, match="-o works"):
        check_formats([Format.ISO_BIOS], "x.iso")


def test_every_format_has_tools_and_firmware() -> None:
    for fmt in Format:
        for what, package in fmt.needs():
            assert what and package
    assert Format.RAW_BIOS.firmware == ("bios", "uefi")
    assert Format.RAW_EFI.firmware == ("uefi",)
    assert Format.TAR.firmware == ()


def test_extract_later_entries_win(tmp_path: Path) -> None:
    entries = [
        stream.directory("etc", mode=0o755),
        stream.file("etc/a", b"one"),
        stream.file("etc/a", b"two", mode=0o600),
        stream.symlink("etc/b", "a"),
        Entry("etc/c", Kind.HARDLINK, linkname="etc/a"),
        stream.file("deep/er/f", b"x"),
        stream.directory("ro", mode=0o555),
        stream.file("ro/f", b"y"),
    ]
    extract(entries, tmp_path / "root")
    root = tmp_path / "root"
    assert (root / "etc/a").read_bytes() == b"two"
    assert (root / "etc/a").stat().st_mode & 0o777 == 0o600
    assert os.readlink(root / "etc/b") == "a"
    assert (root / "etc/c").stat().st_ino == (root / "etc/a").stat().st_ino
    assert (root / "deep/er/f").read_bytes() == b"x"
    assert (root / "ro").stat().st_mode & 0o777 == 0o555
    (root / "ro").chmod(0o755)


def test_loader_takes_busybox_and_boot_modules() -> None:
    entries = [
        stream.file("bin/busybox", b"BB", mode=0o755),
        stream.file("lib/modules/6.1/modules.dep", b"deps"),
        stream.file("lib/modules/6.1/kernel/fs/squashfs/squashfs.ko", b"ko"),
        stream.file("lib/modules/6.1/kernel/sound/snd.ko", b"no"),
        stream.file("containers/x/bin/busybox", b"no"),
    ]
    out = {e.path: e for e in loader_entries(entries, "squashfs", "ab" * 32, 0)}
    assert "lib/modules/6.1/kernel/fs/squashfs/squashfs.ko" in out
    assert "lib/modules/6.1/modules.dep" in out
    assert "lib/modules/6.1/kernel/sound/snd.ko" not in out
    assert out["bin/busybox"].data is not None and out["bin/busybox"].data.read() == b"BB"
    root = out["etc/distrokit-root"].data
    assert root is not None and root.read() == b"squashfs " + b"ab" * 32 + b"\n"
    assert out["dev/console"].kind is Kind.CHAR
    assert out["init"].mode == 0o755


def test_loader_needs_busybox() -> None:
    with pytest.raises(DistrokitError, match="busybox"):
        list(loader_entries([], "erofs", "00", 0))


def test_boot_configs() -> None:
    cfg = boot.grub_config("0123", "console=ttyS0")
    assert "search --no-floppy --set=root --file /boot/distrokit-0123" in cfg
    assert "linux /boot/kernel console=ttyS0" in cfg
    assert "APPEND console=ttyS0" in boot.syslinux_config("console=ttyS0")
    assert volume_label("my-system.v2") == "MY_SYSTEM_V2"


def test_ipxe_script_and_server(tmp_path: Path) -> None:
    for part, text in (("kernel", "K"), ("initrd.img", "I"), ("cmdline", "console=ttyS0")):
        (tmp_path / f"n-{part}").write_text(text)
    script = ipxe_script(tmp_path, "n")
    assert script == (b"#!ipxe\nkernel n-kernel initrd=n-initrd.img console=ttyS0\n"
                      b"initrd n-initrd.img\nboot\n")
    assert ipxe_script(tmp_path, "other") is None
    server = make_server(tmp_path, 0)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        with urllib.request.urlopen(f"{url}/n.ipxe") as r:
            assert r.read() == script
        with urllib.request.urlopen(f"{url}/n-kernel") as r:
            assert r.read() == b"K"
    finally:
        server.shutdown()
        server.server_close()
