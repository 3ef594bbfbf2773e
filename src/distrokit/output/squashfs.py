"""``kernel+squashfs`` and ``kernel+erofs``: the root filesystem as a
read-only squashfs or erofs image next to the kernel, and a small loader
initrd (busybox, the storage and filesystem modules, a loader /init).

The loader finds the image on any disk without guessing device names: it
reads the first 4 KiB of every block device and compares their SHA-256 with
the fingerprint it carries (the image's superblock, which records its size
and tables, so it is unique to the image). It mounts the image read-only
under a tmpfs overlay and starts the system's /sbin/init there.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from distrokit import proc
from distrokit.log import DistrokitError, step, warn
from distrokit.output.kernel_initrd import write_initrd
from distrokit.output.staging import staged
from distrokit.stream import Entry, Kind, directory, file

if TYPE_CHECKING:
    from distrokit.output.context import BuildInputs
    from distrokit.output.formats import Format

FINGERPRINT_BYTES = 4096
# Module directories the loader needs to reach a disk and read the image.
_MODULE_DIRS = ("drivers/virtio/", "drivers/block/", "drivers/scsi/", "drivers/ata/",
                "drivers/cdrom/", "drivers/nvme/", "drivers/usb/", "drivers/mmc/",
                "drivers/hv/", "drivers/xen/", "fs/squashfs/", "fs/erofs/", "fs/overlayfs/",
                "fs/isofs/", "fs/fat/", "fs/nls/", "lib/", "crypto/")

LOADER = r"""#!/bin/busybox sh
# distrokit loader: find the root image by its fingerprint, mount it under a
# tmpfs overlay and start its init. Exiting makes the kernel panic, loudly.
bb=/bin/busybox
$bb mount -t proc proc /proc
$bb mount -t sysfs sysfs /sys
$bb mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
read -r fstype want </etc/distrokit-root
$bb modprobe -a -q virtio_pci virtio_blk virtio_scsi sd_mod sr_mod ahci nvme loop \
	usb_storage uas xhci_pci ehci_pci "$fstype" overlay 2>/dev/null
$bb find /sys/devices -name modalias -type f -exec $bb cat {} + 2>/dev/null |
	$bb sort -u | $bb xargs $bb modprobe -a -q 2>/dev/null
found=
tries=0
while [ -z "$found" ] && [ $tries -lt 300 ]; do
	for dev in /sys/class/block/*; do
		name=${dev##*/}
		sum=$($bb dd if=/dev/$name bs=4096 count=1 2>/dev/null | $bb sha256sum)
		if [ "${sum%% *}" = "$want" ]; then found=/dev/$name; break; fi
	done
	[ -n "$found" ] || { $bb sleep 0.1; tries=$((tries + 1)); }
done
if [ -z "$found" ]; then
	echo "distrokit loader: no $fstype image with fingerprint $want on any disk"
	exit 1
fi
$bb mount -t "$fstype" -o ro "$found" /lower || exit 1
$bb mount -t tmpfs -o mode=0755 rw /rw
$bb mkdir -p /rw/upper /rw/work
$bb mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work root /newroot \
	|| exit 1
$bb mkdir -p /newroot/dev /newroot/proc /newroot/sys
$bb mount --move /dev /newroot/dev
$bb umount /sys /proc
exec $bb switch_root /newroot /sbin/init
"""


def write(fmt: Format, inputs: BuildInputs) -> list[Path]:
    from distrokit.output.formats import Format

    kernel, image, initrd, cmdline = fmt.outputs(inputs.outdir, inputs.name)
    fstype = "squashfs" if fmt is Format.KERNEL_SQUASHFS else "erofs"
    tree = inputs.work / f"{fstype}-root"
    with staged(inputs.outdir) as stage:
        img = stage.path(image)
        img.unlink()  # the tools want to create it
        with step(f"unpacking the root filesystem for {fstype}"):
            pseudo = extract(inputs.entries(), tree)
        with step(f"writing {image.name}"):
            if fstype == "squashfs":
                make_squashfs(tree, img, inputs.mtime, pseudo)
            else:
                make_erofs(tree, img, inputs.mtime, f"{inputs.name}:{inputs.mtime}")
        shutil.rmtree(tree)
        with img.open("rb") as f:
            fingerprint = hashlib.sha256(f.read(FINGERPRINT_BYTES)).hexdigest()
        with stage.open(initrd) as out:
            loader = loader_entries(inputs.entries(), fstype, fingerprint, inputs.mtime)
            write_initrd(out, loader, inputs.compression, inputs.kernel().ucode)
        shutil.copyfile(inputs.kernel_file(), stage.path(kernel))
        stage.path(cmdline).write_text(inputs.cmdline)
    return [kernel, image, initrd, cmdline]


def make_squashfs(tree: Path, image: Path, mtime: int, pseudo: list[str]) -> None:
    argv: list[str | Path] = [
        proc.require("mksquashfs", "squashfs-tools"), tree, image, "-noappend",
        "-comp", "zstd", "-Xcompression-level", "6", "-no-progress", "-quiet",
        "-mkfs-time", str(mtime), "-all-time", str(mtime), "-reproducible",
    ]
    if pseudo:
        listing = image.with_name(image.name + ".pseudo")
        listing.write_text("\n".join(pseudo) + "\n")
        argv += ["-pf", listing]
    # mksquashfs refuses SOURCE_DATE_EPOCH together with the explicit options.
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    try:
        proc.run(argv, env=env)
    finally:
        image.with_name(image.name + ".pseudo").unlink(missing_ok=True)


def make_erofs(tree: Path, image: Path, mtime: int, seed: str) -> None:
    if os.geteuid() != 0:
        warn("kernel+erofs: not root, so file owners and device nodes are not kept")
    fs_uuid = uuid.uuid5(uuid.NAMESPACE_URL, f"distrokit-erofs:{seed}")
    proc.run([proc.require("mkfs.erofs", "erofs-utils"), "-zlz4hc", f"-T{mtime}",
              f"-U{fs_uuid}", "--quiet", image, tree])


def loader_entries(entries: Iterable[Entry], fstype: str, fingerprint: str,
                   mtime: int) -> Iterator[Entry]:
    """The loader initrd: busybox and the boot-time modules taken from the
    system's own stream, and the loader /init."""
    kept: list[Entry] = []
    for entry in entries:
        if entry.path == "bin/busybox" and entry.kind is Kind.FILE:
            kept.append(_in_memory(entry))
        elif entry.path.startswith("lib/modules/"):
            parts = entry.path.split("/", 3)  # lib, modules, VERSION, rest
            rest = parts[3] if len(parts) > 3 else ""
            wanted = (not rest or rest.startswith("modules.") or entry.kind is Kind.DIR
                      or (rest.startswith("kernel/")
                          and rest[len("kernel/"):].startswith(_MODULE_DIRS)))
            if wanted and entry.kind in (Kind.FILE, Kind.DIR, Kind.SYMLINK):
                kept.append(_in_memory(entry) if entry.kind is Kind.FILE else entry)
    if not any(e.path == "bin/busybox" for e in kept):
        raise DistrokitError("kernel+squashfs/erofs needs busybox at /bin/busybox in the "
                             "system (the init package has it)")
    for name in ("bin", "dev", "proc", "sys", "etc", "lower", "rw", "newroot"):
        yield directory(name, mtime=mtime)
    yield Entry("dev/console", Kind.CHAR, mode=0o600, devmajor=5, devminor=1, mtime=mtime)
    yield from kept
    yield file("etc/distrokit-root", f"{fstype} {fingerprint}\n".encode(), mtime=mtime)
    yield file("init", LOADER.encode(), mode=0o755, mtime=mtime)


def _in_memory(entry: Entry) -> Entry:
    """A copy whose data outlives the stream's next step."""
    data = entry.data.read() if entry.data is not None else b""
    return Entry(entry.path, Kind.FILE, mode=entry.mode, uid=entry.uid, gid=entry.gid,
                 mtime=entry.mtime, size=len(data), data=io.BytesIO(data))


# -- unpacking a stream into a directory ----------------------------------------

def extract(entries: Iterable[Entry], root: Path) -> list[str]:
    """Unpack the stream under root (later entries win, as in the initrd).
    Returns mksquashfs pseudo-file lines for what an unprivileged user cannot
    create (owners, device nodes); as root they are made directly."""
    privileged = os.geteuid() == 0
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    dir_modes: dict[str, int] = {}
    owners: dict[str, tuple[int, int, int]] = {}  # path -> (mode, uid, gid), unprivileged
    devices: dict[str, str] = {}
    for e in entries:
        if not e.path:
            continue
        dest = root / e.path
        _parents(root, e.path)
        if e.kind is Kind.DIR:
            if not (dest.is_dir() and not dest.is_symlink()):
                _remove(dest)
                dest.mkdir()
            dir_modes[e.path] = e.mode
        else:
            _remove(dest)
            dir_modes.pop(e.path, None)
            devices.pop(e.path, None)
            if e.kind is Kind.FILE:
                with dest.open("wb") as out:
                    if e.data is not None:
                        shutil.copyfileobj(e.data, out)
                os.chmod(dest, e.mode)
            elif e.kind is Kind.SYMLINK:
                os.symlink(e.linkname, dest)
            elif e.kind is Kind.HARDLINK:
                target = root / e.linkname
                if target.is_file() and not target.is_symlink():
                    os.link(target, dest)
                continue  # owner and mode are the target's
            elif e.kind is Kind.FIFO:
                os.mkfifo(dest, e.mode)
            elif privileged:
                kind = stat.S_IFCHR if e.kind is Kind.CHAR else stat.S_IFBLK
                os.mknod(dest, kind | e.mode, os.makedev(e.devmajor, e.devminor))
            else:
                letter = "c" if e.kind is Kind.CHAR else "b"
                devices[e.path] = (f"{_quote(e.path)} {letter} {e.mode:o} {e.uid} {e.gid} "
                                   f"{e.devmajor} {e.devminor}")
                continue
        if privileged:
            os.lchown(dest, e.uid, e.gid)
        elif e.uid or e.gid:
            owners[e.path] = (e.mode, e.uid, e.gid)
    for path in sorted(dir_modes, key=lambda p: -p.count("/")):
        os.chmod(root / path, dir_modes[path])
    pseudo = [f"{_quote(p)} m {m:o} {u} {g}" for p, (m, u, g) in owners.items()
              if (root / p).exists() and not (root / p).is_symlink()]
    return pseudo + list(devices.values())


def _parents(root: Path, path: str) -> None:
    parent = root / path
    for missing in reversed([p for p in parent.parents if p != root and root in p.parents]):
        if missing.is_symlink() or (missing.exists() and not missing.is_dir()):
            _remove(missing)
        if not missing.exists():
            missing.mkdir(mode=0o755)


def _remove(path: Path) -> None:
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        path.unlink()
    elif path.is_dir():
        for sub in path.rglob("*"):  # read-only directories would stop rmtree
            if sub.is_dir() and not sub.is_symlink():
                sub.chmod(0o755)
        path.chmod(0o755)
        shutil.rmtree(path)


def _quote(path: str) -> str:
    return '"' + path.replace("\\", "\\\\").replace('"', '\\"') + '"'
