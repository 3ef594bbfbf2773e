"""Command line: each verb parses its arguments and calls one stage."""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from distrokit import __version__, log
from distrokit.log import DistrokitError


def _cache(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from distrokit.image.cache import Cache, default_cache_dir

    return Cache(Path(args.cache).expanduser() if args.cache else default_cache_dir())


# -- verbs -------------------------------------------------------------------

def cmd_build(args: argparse.Namespace) -> int:
    from distrokit.build import build_system

    build_system(
        args.files,
        cache=_cache(args),
        name=args.name,
        outdir=Path(args.dir),
        formats=args.format,
        compression=args.compress,
        dry_run=args.dry_run,
    )
    return 0


def cmd_run_qemu(args: argparse.Namespace) -> int:
    from distrokit.vm.qemu import find_kernel_artifacts, run_qemu

    kernel, initrd, cmdline = find_kernel_artifacts(args.path)
    return run_qemu(
        kernel, initrd, cmdline,
        mem_mb=args.mem, cpus=args.cpus, timeout=args.timeout, accel=args.accel,
        interactive=sys.stdin.isatty() and sys.stdout.isatty(),
    )


def cmd_pkg_build(args: argparse.Namespace) -> int:
    from distrokit.pkg.build import build

    cache = _cache(args)
    for directory in args.dirs:
        print(build(Path(directory), cache, force=args.force, refresh=args.refresh))
    return 0


def cmd_pkg_show_tag(args: argparse.Namespace) -> int:
    from distrokit.image.reference import Reference
    from distrokit.pkg.build import show_tag

    cache = _cache(args)
    for directory in args.dirs:
        ref = show_tag(Path(directory), cache)
        print(str(Reference.parse(ref)) if args.canonical else ref)
    return 0


# -- parsing -----------------------------------------------------------------

def _formats(text: str) -> list[str]:
    from distrokit.output.formats import Format

    names = [n.strip() for n in text.split(",") if n.strip()]
    known = {f.value for f in Format}
    for name in names:
        if name not in known:
            raise argparse.ArgumentTypeError(
                f"unknown format {name!r} (known: {', '.join(sorted(known))})")
    return names


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="distrokit",
        description="Assemble small, immutable Linux systems out of containers.",
    )
    p.add_argument("--version", action="version", version=f"distrokit {__version__}")
    p.add_argument("--cache", help="image cache directory (default: $DISTROKIT_CACHE or "
                   "$XDG_CACHE_HOME/distrokit)")
    p.add_argument("--debug", action="store_true", help="show tracebacks and every command run")
    p.add_argument("-v", "--verbose", action="store_true", help="show timed steps")
    p.add_argument("-q", "--quiet", action="store_true", help="only errors")
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)

    b = verbs.add_parser("build", help="build a system from YAML files")
    b.add_argument("files", nargs="+", metavar="FILE", help="YAML files, '-' for stdin, or URLs")
    b.add_argument("-f", "--format", type=_formats, action="extend", default=None,
                   help="output format (repeatable, comma-separated; default kernel+initrd)")
    b.add_argument("--name", help="output name (default: the first file's name)")
    b.add_argument("--dir", default=".", help="output directory (default: .)")
    b.add_argument("--compress", default="zstd", choices=["gzip", "zstd", "xz", "none"],
                   help="initrd compression (default: zstd)")
    b.add_argument("--dry-run", action="store_true", help="print the merged, resolved YAML")
    b.set_defaults(func=cmd_build)

    r = verbs.add_parser("run", help="boot a built system")
    backends = r.add_subparsers(dest="backend", metavar="BACKEND", required=True)
    q = backends.add_parser("qemu", help="boot with QEMU")
    q.add_argument("path", help="D/N for D/N-kernel, D/N-initrd.img, D/N-cmdline")
    q.add_argument("--mem", type=int, default=1024, help="guest memory in MB (default 1024)")
    q.add_argument("--cpus", type=int, default=1, help="guest CPUs (default 1)")
    q.add_argument("--timeout", type=float, default=None,
                   help="fail if the guest has not powered off after S seconds")
    q.add_argument("--accel", default="auto", choices=["auto", "kvm", "tcg"],
                   help="acceleration: auto probes KVM and falls back to TCG")
    q.set_defaults(func=cmd_run_qemu)

    k = verbs.add_parser("pkg", help="build component packages")
    pkgs = k.add_subparsers(dest="pkgverb", metavar="PKGVERB", required=True)
    pb = pkgs.add_parser("build", help="build package directories into the cache")
    pb.add_argument("dirs", nargs="+", metavar="DIR")
    pb.add_argument("--force", action="store_true", help="rebuild even if the tag is cached")
    pb.add_argument("--refresh", action="store_true", help="re-fetch the Debian indexes")
    pb.set_defaults(func=cmd_pkg_build)
    pt = pkgs.add_parser("show-tag", help="print a package's image reference")
    pt.add_argument("dirs", nargs="+", metavar="DIR")
    pt.add_argument("--canonical", action="store_true",
                    help="print the full reference (docker.io/ORG/NAME:TAG)")
    pt.set_defaults(func=cmd_pkg_show_tag)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    log.set_verbosity(1 if (args.verbose or args.debug) else -1 if args.quiet else 0)
    try:
        return int(args.func(args))
    except DistrokitError as exc:
        if args.debug:
            traceback.print_exc()
        # A list of problems (each "FILE:LINE:COL: ...") is printed as it is.
        lines = exc.message.splitlines() or [""]
        if len(lines) == 1:
            lines = [f"distrokit: error: {lines[0]}"]
        print("\n".join(lines), file=sys.stderr)
        if exc.hint:
            print(f"distrokit: hint: {exc.hint}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("distrokit: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: one line unless --debug
        if args.debug:
            traceback.print_exc()
        else:
            print(f"distrokit: internal error: {type(exc).__name__}: {exc} "
                  "(run with --debug for the traceback)", file=sys.stderr)
        return 70


def entry() -> None:
    sys.exit(main())
