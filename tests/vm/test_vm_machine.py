"""run qemu without QEMU: boot kinds found from paths, and the argv of each."""

from __future__ import annotations

from pathlib import Path

import pytest

from distrokit.log import DistrokitError
from distrokit.vm.machine import (
    OVMF_CODE,
    Boot,
    DataDisk,
    Machine,
    Network,
    find_boot,
    machine_argv,
)


def touch(path: Path, text: str = "x") -> Path:
    path.write_text(text)
    return path


def pair(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv) if a == flag]


def test_find_kernel_initrd(tmp_path: Path) -> None:
    for part in ("kernel", "initrd.img"):
        touch(tmp_path / f"n-{part}")
    touch(tmp_path / "n-cmdline", "quiet\n")
    for given in ("n", "n-kernel", "n-initrd.img"):
        boot = find_boot(str(tmp_path / given))
        assert boot == Boot("kernel", tmp_path / "n-kernel", tmp_path / "n-initrd.img", "quiet")


@pytest.mark.parametrize("fs", ["squashfs", "erofs"])
def test_find_squashfs(tmp_path: Path, fs: str) -> None:
    for part in ("kernel", f"{fs}.img", f"{fs}-initrd.img", "cmdline"):
        touch(tmp_path / f"n-{part}")
    boot = find_boot(str(tmp_path / f"n-{fs}.img"))
    assert boot.kind == fs and boot.image == tmp_path / f"n-{fs}.img"
    assert boot.initrd == tmp_path / f"n-{fs}-initrd.img"


@pytest.mark.parametrize(("name", "kind", "fmt"), [
    ("n.iso", "iso", "raw"), ("n-bios.img", "disk", "raw"), ("n.raw", "disk", "raw"),
    ("n.qcow2", "disk", "qcow2"), ("n.vhd", "disk", "vpc"), ("n.vmdk", "disk", "vmdk"),
])
def test_find_images(tmp_path: Path, name: str, kind: str, fmt: str) -> None:
    boot = find_boot(str(touch(tmp_path / name)))
    assert (boot.kind, boot.image_format) == (kind, fmt)


def test_forced_kind(tmp_path: Path) -> None:
    assert find_boot(str(touch(tmp_path / "cd.bin")), "iso").kind == "iso"
    assert find_boot(str(touch(tmp_path / "disk.bin")), "disk").kind == "disk"


def test_unknown_and_missing(tmp_path: Path) -> None:
    with pytest.raises(DistrokitError, match="cannot tell"):
        find_boot(str(touch(tmp_path / "x.bin")))
    with pytest.raises(DistrokitError, match="not found"):
        find_boot(str(tmp_path / "nope.iso"))
    touch(tmp_path / "n-kernel")
    with pytest.raises(DistrokitError, match=r"n-initrd\.img not found"):
        find_boot(str(tmp_path / "n"))


def test_kernel_argv() -> None:
    m = Machine(Boot("kernel", Path("k"), Path("i"), "quiet"), mem_mb=512, cpus=2)
    argv = machine_argv("qemu", m, accel="tcg", interactive=False)
    joined = " ".join(argv)
    for part in ("-accel tcg", "-machine q35", "-nographic", "-nodefaults", "-no-reboot",
                 "-serial stdio", "-m 512", "-smp 2", "-kernel k", "-initrd i",
                 "-nic user,model=virtio-net-pci"):
        assert part in joined
    assert pair(argv, "-append") == ["quiet console=ttyS0"]
    assert "pflash" not in joined and "-daemonize" not in argv


def test_squashfs_argv() -> None:
    m = Machine(Boot("squashfs", Path("k"), Path("i"), "", image=Path("r.img")))
    argv = machine_argv("qemu", m, accel="tcg", interactive=False)
    assert "if=none,id=root,format=raw,readonly=on,file=r.img" in pair(argv, "-drive")
    assert "virtio-blk-pci,drive=root" in pair(argv, "-device")


def test_iso_uefi_argv(tmp_path: Path) -> None:
    m = Machine(Boot("iso", image=Path("c.iso")), uefi=True)
    argv = machine_argv("qemu", m, accel="tcg", interactive=False, vars_file=tmp_path / "v.fd")
    drives = pair(argv, "-drive")
    assert f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}" in drives
    assert f"if=pflash,format=raw,unit=1,file={tmp_path / 'v.fd'}" in drives
    assert "if=none,id=boot,media=cdrom,readonly=on,format=raw,file=c.iso" in drives
    assert "ide-cd,drive=boot,bus=ide.0,bootindex=0" in pair(argv, "-device")
    assert "-kernel" not in argv


def test_disk_data_network_state(tmp_path: Path) -> None:
    m = Machine(Boot("disk", image=Path("d.qcow2"), image_format="qcow2"),
                disks=[DataDisk.parse("data.img,size=2G,format=raw")],
                network=Network.parse("user", ["8080:80", "53:53/udp"]),
                data_iso=Path("cfg.iso"), state=tmp_path, detached=True)
    argv = machine_argv("qemu", m, accel="kvm", interactive=False)
    drives = pair(argv, "-drive")
    assert "if=none,id=boot,format=qcow2,file=d.qcow2" in drives
    assert "if=none,id=disk0,format=raw,file=data.img" in drives
    assert "if=none,id=data,media=cdrom,readonly=on,format=raw,file=cfg.iso" in drives
    assert pair(argv, "-nic") == [
        "user,model=virtio-net-pci,hostfwd=tcp::8080-:80,hostfwd=udp::53-:53"]
    assert pair(argv, "-pidfile") == [str(tmp_path / "qemu.pid")]
    assert pair(argv, "-serial") == [f"file:{tmp_path / 'console.log'}"]
    assert "-daemonize" in argv and "-nographic" not in argv


@pytest.mark.parametrize(("text", "expected"), [
    ("none", ["-nic", "none"]),
    ("tap,tap0", ["-nic", "tap,ifname=tap0,script=no,downscript=no,model=virtio-net-pci"]),
    ("bridge,br0", ["-nic", "bridge,br=br0,model=virtio-net-pci"]),
])
def test_networking(text: str, expected: list[str]) -> None:
    assert Network.parse(text).argv() == expected


@pytest.mark.parametrize("text", ["tap", "bridge", "vde", "user,x"])
def test_bad_networking(text: str) -> None:
    with pytest.raises(DistrokitError, match="--networking"):
        Network.parse(text)


def test_bad_publish() -> None:
    with pytest.raises(DistrokitError, match="--publish"):
        Network.parse("user", ["80"])
    with pytest.raises(DistrokitError, match="needs --networking user"):
        Network.parse("none", ["80:80"])


def test_disk_parse() -> None:
    assert DataDisk.parse("a.qcow2") == DataDisk(Path("a.qcow2"), "1G", "qcow2")
    for bad in ("a,size=big", "a,format=zip", "a,colour=red", ",size=1G"):
        with pytest.raises(DistrokitError):
            DataDisk.parse(bad)
