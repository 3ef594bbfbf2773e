"""A system description + cached images -> the root filesystem as one stream,
laid out the way LinuxKit lays it out:

    lib/modules/...                     the kernel image's kernel.tar
    /...                                the init images, in order
    containers/onboot/000-NAME/         one OCI bundle per onboot container
    containers/onshutdown/000-NAME/     ... per onshutdown container
    containers/services/NAME/           ... per service
    ...                                 the files section, last (it wins)

Each bundle holds config.json and runtime.json (LinuxKit's), runtime.sh (the
same runtime.json as commands the busybox init can run), and the image in
rootfs/ (read-only containers) or lower/ (writable ones, under an overlay).
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from distrokit.assemble import spec
from distrokit.assemble.files import file_entries
from distrokit.config.load import validate_label
from distrokit.config.schema import System
from distrokit.image.image import Image
from distrokit.log import DistrokitError
from distrokit.stream import Entry, Kind, directory, file, from_tar, symlink

# What LinuxKit drops from every container image, and what it puts in instead.
_DROPPED = {".dockerenv", "Dockerfile", "dev/console", "dev/pts", "dev/shm", "etc/hostname"}
_HOSTS = b"127.0.0.1       localhost\n::1     localhost ip6-localhost ip6-loopback\n"

ImageLoader = Callable[[str], Image]


@dataclass(frozen=True)
class Kernel:
    binary: bytes
    cmdline: str
    ucode: bytes | None


class RootFS:
    """Lays out one system; ``kernel()`` and ``entries()`` are its two products."""

    def __init__(self, system: System, load: ImageLoader, mtime: int = 0) -> None:
        self.system = system
        self.load = load
        self.mtime = mtime

    # -- the kernel --------------------------------------------------------

    def kernel(self) -> Kernel:
        k = self.system.kernel
        if not k.image:
            raise DistrokitError("the system has no kernel: add kernel.image to the YAML")
        image = self.load(k.image)
        binary = self._read_member(image, k.binary)
        if binary is None:
            raise DistrokitError(f"kernel image {image.ref}: no file {k.binary!r} in it")
        ucode = None
        if k.ucode:
            ucode = self._read_member(image, k.ucode)
            if ucode is None:
                raise DistrokitError(f"kernel image {image.ref}: no file {k.ucode!r} in it")
        return Kernel(binary, k.cmdline, ucode)

    @staticmethod
    def _read_member(image: Image, name: str) -> bytes | None:
        wanted = name.strip("/")
        for entry in image.entries():
            if entry.path == wanted and entry.kind is Kind.FILE and entry.data:
                return entry.data.read()
        return None

    # -- the root filesystem -------------------------------------------------

    def entries(self) -> Iterator[Entry]:
        yield from self._kernel_modules()
        for ref in self.system.init:
            yield from self._init_image(self.load(ref))
        containers = [c.linuxkit() for c in (*self.system.onboot, *self.system.onshutdown,
                                             *self.system.services)]
        ids = spec.assign_ids(containers)
        yield directory("containers", mtime=self.mtime)
        for section in ("onboot", "onshutdown", "services"):
            yield directory(f"containers/{section}", mtime=self.mtime)
            for index, container in enumerate(getattr(self.system, section)):
                entry = container.linuxkit()
                name = entry["name"] if section == "services" else f"{index:03d}-{entry['name']}"
                yield from self._bundle(f"containers/{section}/{name}", entry, ids)
        yield from file_entries(self.system, self.mtime)

    def _kernel_modules(self) -> Iterator[Entry]:
        k = self.system.kernel
        if not k.image or k.tar in ("", "none"):
            return
        image = self.load(k.image)
        for entry in image.entries():
            if entry.path == k.tar.strip("/") and entry.data is not None:
                try:
                    with tarfile.open(fileobj=entry.data, mode="r|*") as tar:
                        yield from from_tar(tar)
                except tarfile.TarError as exc:
                    raise DistrokitError(f"kernel image {image.ref}: {k.tar} is not a tar: "
                                         f"{exc}") from None
                return
        raise DistrokitError(f"kernel image {image.ref}: no {k.tar!r} in it (set kernel.tar: "
                             "none for a kernel without modules)")

    def _init_image(self, image: Image) -> Iterator[Entry]:
        for entry in image.entries():
            if entry.path == "etc/resolv.conf":
                continue
            yield entry
        yield symlink("etc/resolv.conf", "/run/resolvconf/resolv.conf", mtime=self.mtime)

    def _bundle(self, path: str, entry: dict[str, Any], ids: dict[str, int]) -> Iterator[Entry]:
        image = self.load(entry["image"])
        label = image.label
        if label is not None:
            label = validate_label(label, image.ref)
        cfg = spec.effective_config(image.runtime_config, label, entry)
        config, runtime = spec.runtime_spec(cfg, ids=ids, bundle="/" + path)
        readonly = bool(cfg.get("readonly"))
        yield directory(path, mtime=self.mtime)
        yield file(f"{path}/config.json", _json(config), mtime=self.mtime)
        yield file(f"{path}/runtime.json", _json(runtime), mtime=self.mtime)
        script = spec.runtime_script(runtime, "/" + path).encode()
        yield file(f"{path}/runtime.sh", script, mode=0o755, mtime=self.mtime)
        if readonly:
            yield from self._container_root(image, f"{path}/rootfs")
        else:
            yield directory(f"{path}/rootfs", mtime=self.mtime)
            yield directory(f"{path}/tmp", mtime=self.mtime)
            yield from self._container_root(image, f"{path}/lower")

    def _container_root(self, image: Image, prefix: str) -> Iterator[Entry]:
        yield directory(prefix, mtime=self.mtime)
        for entry in image.entries():
            if entry.path in _DROPPED or entry.path.startswith(("dev/pts/", "dev/shm/")):
                continue
            if entry.path in ("etc/hosts", "etc/resolv.conf", "etc/mtab"):
                continue
            yield entry.moved(prefix)
        for name in ("dev", "dev/pts", "dev/shm", "etc", "proc", "sys"):
            yield directory(f"{prefix}/{name}", mtime=self.mtime)
        yield file(f"{prefix}/etc/hosts", _HOSTS, mtime=self.mtime)
        yield file(f"{prefix}/etc/resolv.conf", b"", mtime=self.mtime)
        yield symlink(f"{prefix}/etc/mtab", "/proc/mounts", mtime=self.mtime)


def _json(value: Any) -> bytes:
    return json.dumps(value, indent=2).encode() + b"\n"

