"""``distrokit pkg build``: a recipe and its Debian packages -> a deterministic
single-layer OCI image in the cache."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import zstandard

from distrokit.debian.archive import DEFAULT_KEYRING, Archive, Package, Repo, default_repos
from distrokit.debian.deb import data_entries
from distrokit.image import oci
from distrokit.image.cache import Cache
from distrokit.log import DistrokitError, info, step
from distrokit.pkg.recipe import DebianSpec, FileSpec, Recipe, load_recipe
from distrokit.pkg.tag import package_tag
from distrokit.pkg.tree import Node, Tree
from distrokit.proc import require, run
from distrokit.stream import Entry, Kind, clean, source_date_epoch, write_tar


@dataclass(frozen=True)
class ResolvedPackage:
    """A package directory with its recipe and resolved Debian packages."""

    directory: Path
    recipe: Recipe
    debs: tuple[Package, ...]

    @property
    def tag(self) -> str:
        versions = [f"{p.name}={p.version}={p.architecture}={p.sha256}" for p in self.debs]
        # The image's mtimes come from SOURCE_DATE_EPOCH: another epoch, another image.
        return package_tag(self.directory, versions, source_date_epoch())

    @property
    def ref(self) -> str:
        return f"{self.recipe.name}:{self.tag}"


def _archive(spec: DebianSpec, cache: Cache, refresh: bool) -> Archive:
    repos = default_repos()
    if spec.mirror or spec.suites or spec.components:
        mirror = spec.mirror or repos[0].url
        suites = spec.suites or [repos[0].suite]
        components = tuple(spec.components or repos[0].components)
        repos = [Repo(mirror, suite, components) for suite in suites]
    keyring = Path(os.environ.get("DISTROKIT_DEBIAN_KEYRING") or DEFAULT_KEYRING)
    return Archive(repos, spec.arch, cache.root / "debian", keyring=keyring, refresh=refresh)


def resolve(directory: Path, cache: Cache, refresh: bool = False) -> ResolvedPackage:
    directory = directory.resolve()
    recipe = load_recipe(directory)
    debs: list[Package] = []
    if recipe.debian:
        with step(f"resolving Debian packages for {recipe.name}"):
            archive = _archive(recipe.debian, cache, refresh)
            debs = archive.resolve(recipe.debian.packages, ignore=recipe.debian.ignore)
    return ResolvedPackage(directory, recipe, tuple(debs))


def show_tag(directory: Path, cache: Cache) -> str:
    return resolve(directory, cache).ref


def build(directory: Path, cache: Cache, *, force: bool = False, refresh: bool = False) -> str:
    """Build the package unless its tag is already cached; return its reference."""
    package = resolve(directory, cache, refresh)
    if not force and cache.lookup(package.ref) is not None:
        return package.ref
    with step(f"building {package.ref}"):
        info(f"building package {package.ref}")
        tree = _tree(package, cache, refresh)
        manifest = _write_image(tree, package.recipe, cache)
        cache.tag(package.ref, manifest)
    return package.ref


# -- the file tree ---------------------------------------------------------

def _tree(package: ResolvedPackage, cache: Cache, refresh: bool) -> Tree:
    recipe = package.recipe
    tree = Tree()
    if recipe.debian:
        archive = _archive(recipe.debian, cache, refresh)
        for deb in package.debs:
            path = archive.fetch(deb)
            keep = [clean(k) for k in recipe.debian.keep]
            drop = [clean(d) for d in recipe.debian.drop]
            tree.add_stream(
                e for e in data_entries(path)
                if e.path and _wanted(e.path, keep, drop)
            )
    if recipe.kernel:
        _lay_out_kernel(tree, source_date_epoch())
    if recipe.busybox_applets:
        _link_applets(tree, clean(recipe.busybox_applets))
    for spec in recipe.files:
        _add_file(tree, package.directory, spec)
    return tree


def _wanted(path: str, keep: list[str], drop: list[str]) -> bool:
    def under(p: str, roots: list[str]) -> bool:
        return any(p == r or p.startswith(r + "/") for r in roots)
    if under(path, drop):
        return False
    return not keep or under(path, keep) or any(k.startswith(path + "/") for k in keep)


def _add_file(tree: Tree, directory: Path, spec: FileSpec) -> None:
    path = clean(spec.path)
    mode = int(spec.mode, 8) if spec.mode else None
    if spec.contents is not None:
        data = spec.contents.encode()
        tree.add(Entry(path, Kind.FILE, mode=mode or 0o644, uid=spec.uid, gid=spec.gid,
                       size=len(data)), data)
    elif spec.directory:
        tree.add(Entry(path, Kind.DIR, mode=mode or 0o755, uid=spec.uid, gid=spec.gid))
    elif spec.symlink is not None:
        tree.add(Entry(path, Kind.SYMLINK, mode=0o777, linkname=spec.symlink))
    elif spec.source is not None:
        source = (directory / spec.source).resolve()
        if not source.is_relative_to(directory):
            raise DistrokitError(f"{directory}/build.yml: source {spec.source!r} is outside "
                                 "the package directory")
        if not source.exists():
            raise DistrokitError(f"{directory}/build.yml: source {spec.source!r} not found")
        sources = [source] if not source.is_dir() else [source, *sorted(source.rglob("*"))]
        for item in sources:
            rel = item.relative_to(source).as_posix()
            target = f"{path}/{rel}" if rel != "." else path
            _add_host_path(tree, item, target, mode if item == source or not item.is_dir()
                           else None, spec.uid, spec.gid)


def _add_host_path(tree: Tree, item: Path, target: str, mode: int | None,
                   uid: int, gid: int) -> None:
    if item.is_symlink():
        tree.add(Entry(target, Kind.SYMLINK, mode=0o777, linkname=os.readlink(item)))
    elif item.is_dir():
        tree.add(Entry(target, Kind.DIR, mode=mode or 0o755, uid=uid, gid=gid))
    else:
        # Only the executable bit of a checked-out file is stable across machines.
        default = 0o755 if os.access(item, os.X_OK) else 0o644
        data = item.read_bytes()
        tree.add(Entry(target, Kind.FILE, mode=mode or default, uid=uid, gid=gid,
                       size=len(data)), data)


def _link_applets(tree: Tree, binary: str) -> None:
    node = tree.get(binary)
    if node is None or node.entry.kind is not Kind.FILE:
        raise DistrokitError(f"busybox-applets: {binary} is not in the image")
    with tempfile.TemporaryDirectory() as tmp:
        exe = Path(tmp) / "busybox"
        exe.write_bytes(node.content)
        exe.chmod(0o755)
        listing = run([exe, "--list-full"], capture=True).stdout.decode()
    for applet in sorted(set(listing.split())):
        if tree.get(applet) is None:
            tree.add(Entry(applet, Kind.SYMLINK, mode=0o777, linkname=f"/{binary}"))


def _lay_out_kernel(tree: Tree, mtime: int) -> None:
    """A Debian kernel package -> /kernel and /kernel.tar (modules + modules.dep),
    the layout LinuxKit kernel images have. Everything else is dropped."""
    kernels = [p for p in tree.nodes if p.startswith("boot/vmlinuz-")]
    if len(kernels) != 1:
        raise DistrokitError(f"kernel: expected one boot/vmlinuz-* in the packages, "
                             f"found {len(kernels)}")
    version = kernels[0].removeprefix("boot/vmlinuz-")
    kernel = tree.nodes[kernels[0]].content
    modules = {p: n for p, n in tree.nodes.items()
               if p.startswith(f"lib/modules/{version}/")
               or p.startswith(f"usr/lib/modules/{version}/")}
    kernel_tar = _modules_tar(modules, version, mtime)
    tree.nodes.clear()
    tree.add(Entry("kernel", Kind.FILE, mode=0o644, size=len(kernel)), kernel)
    tree.add(Entry("kernel.tar", Kind.FILE, mode=0o644, size=len(kernel_tar)), kernel_tar)


def _modules_tar(modules: dict[str, Node], version: str, mtime: int) -> bytes:
    """The modules as a tar for /, with the modules.dep and friends that Debian
    would have made in its postinst (busybox modprobe needs them)."""
    depmod = require("depmod", "kmod")
    sub = Tree()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for path, node in modules.items():
            rel = path.removeprefix("usr/")
            sub.add(replace(node.entry, path=rel), node.content)
            if node.entry.kind is Kind.FILE:
                target = root / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(node.content)
        run([depmod, "-b", root, version])
        for item in sorted((root / "lib" / "modules" / version).glob("modules.*")):
            data = item.read_bytes()
            sub.add(Entry(f"lib/modules/{version}/{item.name}", Kind.FILE, mode=0o644,
                          size=len(data)), data)
    out = io.BytesIO()
    write_tar(sub.entries(mtime), out)
    return out.getvalue()


# -- the OCI image -----------------------------------------------------------

class _Hashing(io.RawIOBase):
    """Passes writes through to a sink while hashing them (the layer's diff_id)."""

    def __init__(self, sink: IO[bytes]) -> None:
        self.sink = sink
        self.hash = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.hash.update(data)
        self.sink.write(data)
        return len(data)


def _write_image(tree: Tree, recipe: Recipe, cache: Cache) -> oci.Descriptor:
    mtime = source_date_epoch()
    # zstd: every warm build streams these layers, and zstd reads about three
    # times faster than gzip (and writes ten times faster). A fixed thread count
    # keeps the bytes the same on every machine.
    compressor = zstandard.ZstdCompressor(level=3, threads=2)
    with (
        cache.blob_writer() as blob,
        compressor.stream_writer(blob, closefd=False) as zst,  # type: ignore[arg-type]
    ):
        write_tar(tree.entries(mtime), hashing := _Hashing(zst))  # type: ignore[arg-type]
    layer = {"mediaType": oci.LAYER_ZSTD, "digest": blob.digest, "size": blob.size}
    created = datetime.fromtimestamp(mtime, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    runtime: dict[str, object] = {"Env": recipe.env, "WorkingDir": recipe.workdir}
    if recipe.entrypoint is not None:
        runtime["Entrypoint"] = recipe.entrypoint
    if recipe.cmd is not None:
        runtime["Cmd"] = recipe.cmd
    if recipe.config is not None:
        runtime["Labels"] = {oci.LABEL: json.dumps(recipe.config, sort_keys=True)}
    arch = recipe.debian.arch if recipe.debian else "amd64"
    config = {
        "architecture": arch,
        "os": "linux",
        "created": created,
        "config": runtime,
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashing.hash.hexdigest()]},
        "history": [{"created": created, "created_by": f"distrokit pkg build {recipe.name}"}],
    }
    config_bytes = oci.canonical_json(config)
    cache.write_blob(config_bytes)
    manifest = {
        "schemaVersion": 2,
        "mediaType": oci.MANIFEST,
        "config": oci.descriptor(oci.CONFIG, config_bytes),
        "layers": [layer],
    }
    manifest_bytes = oci.canonical_json(manifest)
    cache.write_blob(manifest_bytes)
    return oci.descriptor(oci.MANIFEST, manifest_bytes,
                          platform={"architecture": arch, "os": "linux"})

