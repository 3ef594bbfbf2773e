"""A system description + cached images -> the root filesystem as one stream,
laid out the way LinuxKit lays it out:

    lib/modules/...                     the kernel image's kernel.tar
    /...                                the init images, in order
    containers/volumes/NAME/            the volumes (see volumes.py)
    containers/onboot/000-NAME/         one OCI bundle per onboot container
    containers/onshutdown/000-NAME/     ... per onshutdown container
    containers/services/NAME/           ... per service
    ...                                 the files section, last (it wins)

Each bundle holds config.json and runtime.json (LinuxKit's), runtime.sh (the
same runtime.json as commands the busybox init can run; runtime-after-create.sh
too when the container needs a createRuntime hook) and the image in rootfs/
(read-only containers) or lower/ (writable ones, under an overlay). An image
used by several containers is unpacked once, in the first bundle: the others'
runtime.json mount it from there, as LinuxKit's do.
"""

from __future__ import annotations

import json
import posixpath
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from distrokit.assemble import spec
from distrokit.assemble.files import file_entries
from distrokit.assemble.volumes import rewrite_binds, volume_entries
from distrokit.config.load import validate_label
from distrokit.config.problems import ConfigError
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


@dataclass(frozen=True)
class _Bundle:
    """What a container's bundle is made of, worked out before it is written."""

    image: Image
    readonly: bool
    root: str  # where this bundle's image would be unpacked
    image_root: str  # where it is unpacked (another bundle's copy when shared)
    config: dict[str, Any]
    runtime: dict[str, Any]


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
        """The whole root filesystem, in LinuxKit's order: kernel modules, init
        images, volumes, onboot, onshutdown, services, files."""
        present: set[str] = set()  # directories so far: files only make missing parents
        for entry in self._layout():
            if entry.kind is Kind.DIR:
                present.add(entry.path)
            parent = posixpath.dirname(entry.path)
            while parent and parent not in present:
                present.add(parent)
                parent = posixpath.dirname(parent)
            yield entry
        yield from file_entries(self.system, self.mtime, present)

    def _layout(self) -> Iterator[Entry]:
        yield from self._kernel_modules()
        for ref in self.system.init:
            yield from self._init_image(self.load(ref))
        for volume in self.system.volumes:
            image = self.load(volume.image) if volume.image else None
            yield from volume_entries(volume, image, self.mtime, self._volume_root)
        ids = spec.assign_ids([c.linuxkit() for _, _, c in self.system.containers()])
        unpacked: dict[str, str] = {}  # image digest -> where it is unpacked
        yield directory("containers", mtime=self.mtime)
        for section in ("onboot", "onshutdown", "services"):
            yield directory(f"containers/{section}", mtime=self.mtime)
            for index, container in enumerate(getattr(self.system, section)):
                name = container.name if section == "services" else f"{index:03d}-{container.name}"
                yield from self._bundle(f"containers/{section}/{name}", section, index, ids,
                                        unpacked)

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

    def check(self) -> None:
        """Work out every container's spec before anything is written, so that
        all problems (bad capabilities, rlimits, binds, labels...) are reported
        together rather than one per run."""
        ids = spec.assign_ids([c.linuxkit() for _, _, c in self.system.containers()])
        unpacked: dict[str, str] = {}
        problems: list[str] = []
        for section in ("onboot", "onshutdown", "services"):
            for index, container in enumerate(getattr(self.system, section)):
                name = container.name if section == "services" else f"{index:03d}-{container.name}"
                try:
                    self._spec(f"containers/{section}/{name}", section, index, ids, unpacked)
                except DistrokitError as exc:
                    problems += exc.message.splitlines()
        if problems:
            raise DistrokitError("\n".join(dict.fromkeys(problems)))

    def _spec(self, path: str, section: str, index: int, ids: dict[str, int],
              unpacked: dict[str, str]) -> _Bundle:
        entry = rewrite_binds(getattr(self.system, section)[index].linuxkit())
        image = self.load(entry["image"])
        label = image.label
        if label is not None:
            try:
                label = validate_label(label, image.ref)
            except ConfigError as exc:  # each problem: "image X: label Y: ..."
                pos = self.system.where(section, index, "image")
                raise DistrokitError("\n".join(f"{pos}: {p}" if pos else p
                                               for p in exc.problems)) from None
        bundle = "/" + path
        try:
            cfg = spec.effective_config(image.runtime_config, label, entry)
            readonly = bool(cfg["readonly"])
            # An image already unpacked for another bundle is used from there (as LinuxKit).
            root = f"{path}/{'rootfs' if readonly else 'lower'}"
            image_root = unpacked.setdefault(image.digest, root)
            config, runtime = spec.runtime_spec(
                cfg, ids=ids, bundle=bundle,
                image_root=None if image_root == root else "/" + image_root)
        except spec.SpecError as exc:
            raise self._located(exc, section, index, entry, label, image.ref) from None
        return _Bundle(image, readonly, root, image_root, config, runtime)

    def _bundle(self, path: str, section: str, index: int, ids: dict[str, int],
                unpacked: dict[str, str]) -> Iterator[Entry]:
        b = self._spec(path, section, index, ids, unpacked)
        image, readonly, root, image_root = b.image, b.readonly, b.root, b.image_root
        config, runtime = b.config, b.runtime
        bundle = "/" + path
        yield directory(path, mtime=self.mtime)
        yield file(f"{path}/config.json", _json(config), mtime=self.mtime)
        yield file(f"{path}/runtime.json", _json(runtime), mtime=self.mtime)
        script = spec.runtime_script(runtime, bundle).encode()
        yield file(f"{path}/runtime.sh", script, mode=0o755, mtime=self.mtime)
        hook = spec.after_create_script(runtime, bundle)
        if hook is not None:
            yield file(f"{path}/{spec.AFTER_CREATE}", hook.encode(), mode=0o755,
                       mtime=self.mtime)
        if not readonly:
            yield directory(f"{path}/tmp", mtime=self.mtime)
        if image_root == root:
            yield from self._container_root(image, root)
        if image_root != root or not readonly:
            yield directory(f"{path}/rootfs", mtime=self.mtime)

    def _located(self, exc: spec.SpecError, section: str, index: int, entry: dict[str, Any],
                 label: dict[str, Any] | None, ref: str) -> DistrokitError:
        """The error at the YAML line its value came from, or naming the image
        and its label when the label set it."""
        loc: tuple[str | int, ...] = (section, index)
        found = _written(entry, exc.key, exc.value) if exc.key else None
        from_label = found is None and exc.key in (label or {})
        if found is not None:
            loc = (section, index, *found)
        elif from_label or exc.key == "command":  # from the image, not the YAML
            loc = (section, index, "image")
        pos = self.system.where(*loc)
        message = exc.message
        if from_label:
            message = f"image {ref}: label {spec.LABEL}: {message}"
        return DistrokitError(f"{pos}: {message}" if pos else message, exc.hint)

    def _volume_root(self, image: Image, prefix: str) -> Iterator[Entry]:
        # as LinuxKit: a volume's resolv.conf is the system's
        return self._container_root(image, prefix, "/run/resolvconf/resolv.conf")

    def _container_root(self, image: Image, prefix: str,
                        resolv: str | None = None) -> Iterator[Entry]:
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
        if resolv:
            yield symlink(f"{prefix}/etc/resolv.conf", resolv, mtime=self.mtime)
        else:
            yield file(f"{prefix}/etc/resolv.conf", b"", mtime=self.mtime)
        yield symlink(f"{prefix}/etc/mtab", "/proc/mounts", mtime=self.mtime)


def _written(entry: dict[str, Any], key: str, value: Any) -> tuple[str | int, ...] | None:
    """Where in a YAML entry ``key`` (holding ``value``) was written: the list
    item, or the key; None when the YAML did not set it."""
    for written in (key, f"{key}.add"):
        items = entry.get(written)
        if isinstance(items, list) and value is not None and value in items:
            return (written, items.index(value))
        if written == key and written in entry:
            return (written,)
    return None


def _json(value: Any) -> bytes:
    return json.dumps(value, indent=2).encode() + b"\n"

