"""What ``distrokit run qemu`` boots and how: the kind of boot (found from
the path or forced), firmware, data disks, networking, a config ISO, and
the state directory. :func:`machine_argv` turns it into QEMU's argv; qemu.py
supervises the run.

Kinds: ``kernel`` (N-kernel + N-initrd.img + N-cmdline), ``squashfs`` and
``erofs`` (N-kernel + N-F-initrd.img + N-cmdline + the image as a read-only
virtio disk), ``iso`` (a CD-ROM) and ``disk`` (a virtio disk: raw, qcow2,
VHD, VMDK).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from distrokit import proc
from distrokit.log import DistrokitError

OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
KINDS = ("kernel", "squashfs", "erofs", "iso", "disk")
_DISK_FORMATS = {".qcow2": "qcow2", ".vhd": "vpc", ".vmdk": "vmdk", ".img": "raw",
                 ".raw": "raw"}
_FORMAT_NAMES = {"raw", "qcow2", "vpc", "vmdk", "vhdx", "vdi"}


@dataclass(frozen=True)
class Boot:
    kind: str
    kernel: Path | None = None
    initrd: Path | None = None
    cmdline: str = ""
    image: Path | None = None  # the squashfs/erofs image, the ISO or the disk
    image_format: str = "raw"


@dataclass(frozen=True)
class DataDisk:
    path: Path
    size: str = "1G"
    format: str = "qcow2"

    @classmethod
    def parse(cls, text: str) -> DataDisk:
        """``FILE[,size=S][,format=F]``, as LinuxKit's -disk."""
        path, *options = text.split(",")
        values: dict[str, str] = {}
        for option in options:
            key, _, value = option.partition("=")
            if key not in ("size", "format") or not value:
                raise DistrokitError(f"bad --disk option {option!r} in {text!r}",
                                     "use FILE[,size=1G][,format=qcow2|raw]")
            values[key] = value
        if not path:
            raise DistrokitError(f"--disk {text!r} names no file")
        if not re.fullmatch(r"\d+[KMGT]?", values.get("size", "1G")):
            raise DistrokitError(f"bad disk size {values['size']!r}", "e.g. 512M or 4G")
        if values.get("format", "qcow2") not in _FORMAT_NAMES:
            raise DistrokitError(f"unknown disk format {values['format']!r}",
                                 f"one of {', '.join(sorted(_FORMAT_NAMES))}")
        return cls(Path(path), **values)


@dataclass(frozen=True)
class Network:
    mode: str = "user"  # user, none, tap, bridge
    device: str = ""  # the tap interface or the bridge
    publish: tuple[str, ...] = ()  # HOST:GUEST[/udp]

    @classmethod
    def parse(cls, text: str, publish: list[str] | None = None) -> Network:
        mode, _, device = text.partition(",")
        if mode not in ("user", "none", "tap", "bridge") or \
                (mode in ("tap", "bridge")) != bool(device):
            raise DistrokitError(f"bad --networking {text!r}",
                                 "use user, none, tap,IFNAME or bridge,BRIDGE")
        for port in publish or []:
            if not re.fullmatch(r"(\d+):(\d+)(/(tcp|udp))?", port):
                raise DistrokitError(f"bad --publish {port!r}", "use HOST:GUEST[/udp]")
        if publish and mode != "user":
            raise DistrokitError("--publish needs --networking user")
        return cls(mode, device, tuple(publish or ()))

    def argv(self) -> list[str]:
        if self.mode == "none":
            return ["-nic", "none"]
        if self.mode == "tap":
            return ["-nic", f"tap,ifname={self.device},script=no,downscript=no,"
                            "model=virtio-net-pci"]
        if self.mode == "bridge":
            return ["-nic", f"bridge,br={self.device},model=virtio-net-pci"]
        forwards = ""
        for port in self.publish:
            ports, _, proto = port.partition("/")
            host, guest = ports.split(":")
            forwards += f",hostfwd={proto or 'tcp'}::{host}-:{guest}"
        return ["-nic", f"user,model=virtio-net-pci{forwards}"]


@dataclass
class Machine:
    boot: Boot
    mem_mb: int = 1024
    cpus: int = 1
    uefi: bool = False
    disks: list[DataDisk] = field(default_factory=list)
    network: Network = field(default_factory=Network)
    data_iso: Path | None = None
    state: Path | None = None  # holds qemu.pid, console.log, the UEFI vars
    detached: bool = False


def find_boot(path: str, force: str | None = None) -> Boot:
    """What to boot at ``path``: a kernel+initrd prefix (``D/N`` or one of its
    files), ``D/N-squashfs.img``, ``D/N-erofs.img``, an ISO or a disk image."""
    kind = force or _detect(path)
    if kind in ("kernel", "squashfs", "erofs"):
        prefix = path
        for suffix in ("-kernel", "-initrd.img", "-cmdline", "-squashfs.img",
                       "-squashfs-initrd.img", "-erofs.img", "-erofs-initrd.img"):
            if prefix.endswith(suffix):
                prefix = prefix[: -len(suffix)]
                break
        kernel = Path(prefix + "-kernel")
        initrd = Path(prefix + ("-initrd.img" if kind == "kernel" else f"-{kind}-initrd.img"))
        image = None if kind == "kernel" else Path(f"{prefix}-{kind}.img")
        for needed in (kernel, initrd, image):
            if needed is not None and not needed.is_file():
                raise DistrokitError(f"{needed} not found",
                                     f"give the prefix of a {_OUTPUT[kind]} output, "
                                     "e.g. out/NAME")
        cmdline_file = Path(prefix + "-cmdline")
        cmdline = cmdline_file.read_text().strip() if cmdline_file.is_file() else ""
        return Boot(kind, kernel=kernel, initrd=initrd, cmdline=cmdline, image=image)
    image = Path(path)
    if not image.is_file():
        raise DistrokitError(f"{image} not found")
    if kind == "iso":
        return Boot("iso", image=image)
    return Boot("disk", image=image, image_format=_DISK_FORMATS.get(image.suffix, "raw"))


_OUTPUT = {"kernel": "kernel+initrd", "squashfs": "kernel+squashfs", "erofs": "kernel+erofs"}


def _detect(path: str) -> str:
    if path.endswith("-squashfs.img") or path.endswith("-squashfs-initrd.img"):
        return "squashfs"
    if path.endswith("-erofs.img") or path.endswith("-erofs-initrd.img"):
        return "erofs"
    if path.endswith(("-kernel", "-initrd.img", "-cmdline")) or Path(path + "-kernel").exists():
        return "kernel"
    suffix = Path(path).suffix
    if suffix == ".iso":
        return "iso"
    if suffix in _DISK_FORMATS:
        return "disk"
    raise DistrokitError(f"cannot tell what {path} is",
                         "give D/N of a kernel+initrd output, an .iso, a disk image "
                         "(.img .raw .qcow2 .vhd .vmdk) or force the kind with "
                         "--kernel, --iso, --squashfs, --erofs or --boot-disk")


def with_serial_console(cmdline: str) -> str:
    """The command line, with ``console=ttyS0`` appended unless it names it
    (the last console= is /dev/console, so the guest's init writes there too)."""
    if any(arg.startswith("console=ttyS0") for arg in cmdline.split()):
        return cmdline
    return f"{cmdline} console=ttyS0".strip()


def machine_argv(qemu: str, m: Machine, *, accel: str, interactive: bool,
                 vars_file: Path | None = None) -> list[str]:
    """QEMU's argv for a machine. ``vars_file`` is this VM's own copy of the
    UEFI variables (firmware writes to it)."""
    argv = [qemu, "-accel", accel, "-machine", "q35", "-nodefaults", "-no-reboot",
            "-m", str(m.mem_mb), "-smp", str(m.cpus)]
    if m.detached:
        assert m.state is not None
        argv += ["-display", "none", "-daemonize",
                 "-serial", f"file:{m.state / 'console.log'}"]
    else:
        argv += ["-nographic", "-serial", "mon:stdio" if interactive else "stdio"]
    if m.state is not None:
        argv += ["-pidfile", str(m.state / "qemu.pid")]
    if m.uefi:
        assert vars_file is not None
        argv += ["-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
                 "-drive", f"if=pflash,format=raw,unit=1,file={vars_file}"]
    b = m.boot
    if b.kind in ("kernel", "squashfs", "erofs"):
        argv += ["-kernel", str(b.kernel), "-initrd", str(b.initrd),
                 "-append", with_serial_console(b.cmdline)]
    if b.kind in ("squashfs", "erofs"):
        argv += ["-drive", f"if=none,id=root,format=raw,readonly=on,file={b.image}",
                 "-device", "virtio-blk-pci,drive=root"]
    elif b.kind == "iso":
        argv += ["-drive", f"if=none,id=boot,media=cdrom,readonly=on,format=raw,file={b.image}",
                 "-device", "ide-cd,drive=boot,bus=ide.0,bootindex=0"]
    elif b.kind == "disk":
        argv += ["-drive", f"if=none,id=boot,format={b.image_format},file={b.image}",
                 "-device", "virtio-blk-pci,drive=boot,bootindex=0"]
    for i, disk in enumerate(m.disks):
        argv += ["-drive", f"if=none,id=disk{i},format={disk.format},file={disk.path}",
                 "-device", f"virtio-blk-pci,drive=disk{i}"]
    if m.data_iso is not None:
        argv += ["-drive", f"if=none,id=data,media=cdrom,readonly=on,format=raw,"
                           f"file={m.data_iso}",
                 # virtio-scsi: q35's IDE buses are AHCI, which the cloud kernel lacks.
                 "-device", "virtio-scsi-pci,id=datascsi",
                 "-device", "scsi-cd,bus=datascsi.0,drive=data"]
    argv += ["-device", "virtio-rng-pci", *m.network.argv()]
    return argv


def private_vars(directory: Path) -> Path:
    """A copy of the host's OVMF variable store for one VM."""
    for needed in (OVMF_CODE, OVMF_VARS):
        if not needed.is_file():
            raise DistrokitError(f"{needed} not found: apt-get install ovmf")
    target = directory / "OVMF_VARS.fd"
    if not target.exists():
        shutil.copyfile(OVMF_VARS, target)
    return target


def create_disks(disks: list[DataDisk]) -> None:
    """Data disks that do not exist yet are created empty."""
    for disk in disks:
        if not disk.path.exists():
            proc.run([proc.require("qemu-img", "qemu-utils"), "create", "-q", "-f",
                      disk.format, disk.path, disk.size])


def data_iso(target: Path, data: bytes) -> Path:
    """A config ISO the guest can read: volume label ``cidata`` with the data
    as ``config`` (LinuxKit's metadata layout) and as ``user-data``
    (cloud-init's NoCloud layout)."""
    tree = target.with_suffix(".d")
    shutil.rmtree(tree, ignore_errors=True)
    tree.mkdir(parents=True)
    for name in ("config", "user-data"):
        (tree / name).write_bytes(data)
    (tree / "meta-data").write_bytes(b"")
    target.unlink(missing_ok=True)
    proc.run([proc.require("xorriso", "xorriso"), "-as", "mkisofs", "-quiet", "-o", target,
              "-V", "cidata", "-R", "-J", tree])
    shutil.rmtree(tree)
    return target
