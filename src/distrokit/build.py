"""``distrokit build``: YAML files -> a system description -> images -> the
root filesystem -> output formats. The one place where the stages meet."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache as memoize
from pathlib import Path
from urllib.parse import urlsplit

from distrokit.assemble.rootfs import RootFS
from distrokit.config.dump import dump_yaml
from distrokit.config.load import load
from distrokit.image.cache import Cache
from distrokit.image.image import Image
from distrokit.image.reference import normalise
from distrokit.image.transfer import Session, ensure
from distrokit.log import DistrokitError, info, step
from distrokit.output.compress import Compression
from distrokit.output.write import check_formats, parse_formats, write_formats
from distrokit.pkg import build as pkg
from distrokit.stream import source_date_epoch


def default_name(source: str) -> str:
    """The output name a source gives: its file name without .yml/.yaml."""
    if source == "-":
        return "distrokit"
    path = urlsplit(source).path if "://" in source else source
    base = path.rstrip("/").rsplit("/", 1)[-1]
    for suffix in (".yml", ".yaml"):
        base = base.removesuffix(suffix)
    return base or "distrokit"


def check_name(name: str) -> str:
    """Output names become file names inside --dir: no paths, nothing hidden."""
    if not name or "/" in name or name.startswith(".") or "\0" in name:
        raise DistrokitError(f"invalid output name {name!r}",
                             hint="a plain file name, without '/' and not starting with '.'")
    return name


def image_loader(cache: Cache, session: Session | None = None, pull: bool = False,
                 local: set[str] | None = None) -> object:
    """Images by reference: from the cache, pulled from their registry when
    missing (or always with pull, except the packages built in this run)."""
    @memoize
    def load_image(ref: str) -> Image:
        if session is not None:
            refresh = pull and normalise(ref) not in (local or set())
            try:
                ensure(cache, ref, session, refresh=refresh)
            except DistrokitError as exc:
                if cache.lookup(ref) is None or refresh:
                    raise DistrokitError(
                        f"image {normalise(ref)} is not in the cache and cannot be "
                        f"pulled: {exc.message}",
                        hint="build it with 'distrokit pkg build DIR', refer to it as "
                             "@pkg:DIR, or check the registry") from None
        image = Image.open(cache, ref)
        if image is None:
            raise DistrokitError(
                f"image {normalise(ref)} is not in the cache {cache.root}",
                hint="build it with 'distrokit pkg build DIR' or refer to it as @pkg:DIR",
            )
        return image

    return load_image


def build_system(
    sources: Sequence[str],
    *,
    cache: Cache,
    name: str | None,
    outdir: Path,
    formats: Sequence[str] | None,
    compression: str,
    dry_run: bool = False,
    pull: bool = False,
    session: Session | None = None,
    size_mb: int = 0,
    output: str | None = None,
) -> list[Path]:
    chosen = parse_formats(formats)
    if not dry_run:
        check_formats(chosen, output)  # missing tools fail before any work
    local: set[str] = set()

    def build_pkg(path: Path) -> str:
        # A dry run only names packages; it never builds into the cache.
        ref = pkg.show_tag(path, cache) if dry_run else pkg.build(path, cache)
        local.add(normalise(ref))
        return ref

    with step("reading the configuration"):
        system = load(sources, resolve_pkg=build_pkg)
    if dry_run:
        print(dump_yaml(system), end="")
        return []
    name = check_name(default_name(sources[0]) if name is None else name)
    mtime = source_date_epoch()
    rootfs = RootFS(system, image_loader(cache, session, pull, local), mtime)  # type: ignore[arg-type]
    with step("checking every container"):
        rootfs.check()
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DistrokitError(f"cannot create output directory {outdir}: {exc.strerror}") from None
    written = write_formats(rootfs, name=name, outdir=outdir, formats=chosen,
                            compression=Compression(compression), mtime=mtime,
                            size_mb=size_mb, output=output)
    for path in written:
        info(f"wrote {path}")
    return written

