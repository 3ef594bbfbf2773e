"""Command line: each verb parses its arguments and calls one stage."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from distrokit import __version__, log
from distrokit.log import DistrokitError


def _cache(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from distrokit.image.cache import Cache, default_cache_dir

    return Cache(Path(args.cache).expanduser() if args.cache else default_cache_dir())


def _session(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from distrokit.image.auth import CredentialStore, parse_creds
    from distrokit.image.registry import RegistryOptions, parse_mirrors
    from distrokit.image.transfer import Session

    return Session(RegistryOptions(
        creds=CredentialStore(parse_creds(args.registry_creds or [])),
        mirrors=parse_mirrors(args.mirror or []),
        cert_file=Path(args.cert_file) if args.cert_file else None,
        insecure=set(args.insecure_registry or []),
    ))


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
        pull=args.pull,
        session=_session(args),
        size_mb=args.size,
        output=args.output,
    )
    return 0


def cmd_run_qemu(args: argparse.Namespace) -> int:
    from distrokit.vm.machine import DataDisk, Machine, Network, find_boot
    from distrokit.vm.qemu import run_machine

    boot = find_boot(args.path, args.kind)
    data: bytes | None = args.data.encode() if args.data is not None else None
    if args.data_file is not None:
        try:
            data = Path(args.data_file).read_bytes()
        except OSError as exc:
            raise DistrokitError(f"cannot read --data-file {args.data_file}: "
                                 f"{exc.strerror}") from None
    state = Path(args.state) if args.state else None
    if args.detached and state is None:
        state = Path(args.path.rstrip("/").removesuffix(Path(args.path).suffix) + "-state")
    machine = Machine(
        boot, mem_mb=args.mem, cpus=args.cpus, uefi=args.uefi,
        disks=[DataDisk.parse(d) for d in args.disk],
        network=Network.parse(args.networking, args.publish),
        state=state, detached=args.detached,
    )
    return run_machine(machine, timeout=args.timeout, accel=args.accel, data=data,
                       interactive=sys.stdin.isatty() and sys.stdout.isatty())


def cmd_test(args: argparse.Namespace) -> int:
    from distrokit.testing.cases import discover, host_labels, matches
    from distrokit.testing.runner import Options, run_tests

    cases = discover([Path(p) for p in args.paths or ["."]])
    cases = [c for c in cases if not matches(c.name, args.exclude)]
    if args.list:
        for case in cases:
            print(f"{case.name:<40} {','.join(case.labels):<16} {case.summary}")
        return 0
    options = Options(results=Path(args.results), jobs=args.jobs, keep=args.keep,
                      labels=frozenset(host_labels() | set(args.label)), accel=args.accel,
                      cache=Path(args.cache).expanduser() if args.cache else None)
    return run_tests(cases, options, Path(args.junit) if args.junit else None)


def cmd_serve(args: argparse.Namespace) -> int:
    from distrokit.serve import serve

    serve(Path(args.directory), args.port, args.address)
    return 0


def cmd_pkg_build(args: argparse.Namespace) -> int:
    from distrokit.image.transfer import push
    from distrokit.pkg.build import build

    if args.remote_name and len(args.dirs) > 1:
        raise DistrokitError("--remote-name names one image: give one package directory")
    cache = _cache(args)
    for directory in args.dirs:
        ref = build(Path(directory), cache, force=args.force, refresh=args.refresh)
        print(ref)
        if args.push:
            push(cache, ref, _session(args), args.remote_name)
    return 0


def cmd_cache(args: argparse.Namespace) -> int:
    from distrokit.image import archive, transfer

    cache = _cache(args)
    verb = args.cacheverb
    if verb == "ls":
        for name, desc in sorted(cache.names().items()):
            closure = cache.closure(desc)
            size = sum(cache.blob_path(d).stat().st_size for d in closure.blobs
                       if cache.has_blob(d))
            state = "" if closure.complete else "  (incomplete)"
            print(f"{name}  {desc['digest'][:19]}  {size / 1e6:.1f} MB{state}")
    elif verb == "rm":
        for ref in args.refs:
            if not cache.untag(ref):
                raise DistrokitError(f"image {ref} is not in the cache {cache.root}")
        log.info("removed; 'distrokit cache clean' frees the space")
    elif verb == "clean":
        count, freed = cache.clean(everything=args.all)
        log.info(f"removed {count} blobs, {freed / 1e6:.1f} MB")
    elif verb == "verify":
        corrupt, untagged = cache.verify()
        for digest in corrupt:
            print(f"corrupt blob removed: {digest}")
        for name in untagged:
            print(f"incomplete image untagged: {name}")
        if corrupt or untagged:
            raise DistrokitError(f"the cache had {len(corrupt)} corrupt blobs and "
                                 f"{len(untagged)} incomplete images (now removed)",
                                 hint="pull or build them again")
        log.info(f"cache {cache.root}: every blob matches its digest")
    elif verb == "pull":
        session = _session(args)
        for ref in args.refs:
            transfer.pull(cache, ref, session, args.arch)
    elif verb == "push":
        transfer.push(cache, args.ref, _session(args), args.remote_name)
    elif verb == "export":
        with archive.output(args.output) as out:
            archive.export(cache, args.ref, args.format, out, args.arch)
    elif verb == "import":
        for name in archive.import_archive(cache, Path(args.file), args.name):
            print(name)
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
    if not names:
        raise argparse.ArgumentTypeError(f"no format given (known: {', '.join(sorted(known))})")
    for name in names:
        if name not in known:
            raise argparse.ArgumentTypeError(
                f"unknown format {name!r} (known: {', '.join(sorted(known))})")
    return names


def _positive(kind: type[int] | type[float], minimum: float = 0) -> Callable[[str], Any]:
    """An argparse type: a number above 0 (and at least minimum)."""
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value <= 0 or value < minimum:
            raise argparse.ArgumentTypeError(
                f"{text} is too small" + (f" (at least {minimum:g})" if minimum else ""))
        return value
    return parse


def _size_mb(text: str) -> int:
    """A size in MiB: N, NM or NG."""
    value = text.strip().upper().removesuffix("B")
    scale = 1024 if value.endswith("G") else 1
    number = value.removesuffix("G").removesuffix("M")
    if not number.isdigit() or int(number) <= 0:
        raise argparse.ArgumentTypeError(f"bad size {text!r} (e.g. 512M or 2G)")
    return int(number) * scale


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

    reg = argparse.ArgumentParser(add_help=False)
    reg_opts = reg.add_argument_group("registries")
    reg_opts.add_argument("--registry-creds", action="append", metavar="REGISTRY=USER:PASS",
                          help="credentials for a registry (repeatable)")
    reg_opts.add_argument("--mirror", action="append", metavar="REGISTRY=URL",
                          help="pull REGISTRY's images from URL first (repeatable)")
    reg_opts.add_argument("--cert-file", metavar="FILE", help="CA certificates (PEM) to trust")
    reg_opts.add_argument("--insecure-registry", action="append", metavar="REGISTRY",
                          help="allow plain HTTP or unverified TLS for REGISTRY (repeatable)")

    b = verbs.add_parser("build", help="build a system from YAML files", parents=[reg])
    b.add_argument("--pull", action="store_true",
                   help="pull every image from its registry again, even if cached")
    b.add_argument("files", nargs="+", metavar="FILE", help="YAML files, '-' for stdin, or URLs")
    b.add_argument("-f", "--format", type=_formats, action="extend", default=None,
                   help="output format (repeatable, comma-separated; default kernel+initrd)")
    b.add_argument("--name", help="output name (default: the first file's name)")
    b.add_argument("--dir", default=".", help="output directory (default: .)")
    b.add_argument("--compress", default="zstd", choices=["gzip", "zstd", "xz", "none"],
                   help="initrd compression (default: zstd)")
    b.add_argument("--dry-run", action="store_true", help="print the merged, resolved YAML")
    b.add_argument("--size", type=_size_mb, default=0, metavar="SIZE",
                   help="disk size for disk formats, e.g. 1024M or 2G (default: just enough)")
    b.add_argument("-o", "--output", metavar="FILE",
                   help="write the one tar or docker output to FILE ('-': standard output)")
    b.set_defaults(func=cmd_build)

    r = verbs.add_parser("run", help="boot a built system")
    backends = r.add_subparsers(dest="backend", metavar="BACKEND", required=True)
    q = backends.add_parser("qemu", help="boot with QEMU")
    q.add_argument("path", help="D/N of a kernel+initrd output, D/N-squashfs.img, "
                   "D/N-erofs.img, an .iso, or a disk image (.img .raw .qcow2 .vhd .vmdk)")
    kinds = q.add_mutually_exclusive_group()
    for kind, what in (("kernel", "a kernel+initrd prefix"), ("squashfs", "kernel+squashfs"),
                       ("erofs", "kernel+erofs"), ("iso", "an ISO"),
                       ("boot-disk", "a disk image")):
        kinds.add_argument(f"--{kind}", dest="kind", action="store_const",
                           const=kind.removeprefix("boot-"), help=f"boot PATH as {what}")
    q.add_argument("--uefi", action="store_true", help="boot with UEFI firmware (OVMF)")
    q.add_argument("--disk", action="append", default=[], metavar="FILE[,size=S][,format=F]",
                   help="a data disk, created when missing (repeatable)")
    q.add_argument("--networking", default="user", metavar="MODE",
                   help="user (default), none, tap,IFNAME or bridge,BRIDGE")
    q.add_argument("--publish", action="append", default=[], metavar="HOST:GUEST[/udp]",
                   help="forward a host port to the guest (user networking; repeatable)")
    data = q.add_mutually_exclusive_group()
    data.add_argument("--data", help="a string the guest reads from a config ISO")
    data.add_argument("--data-file", metavar="FILE", help="a file given to the guest likewise")
    q.add_argument("--state", metavar="DIR", help="keep qemu.pid, console.log and the UEFI "
                   "variables in DIR")
    q.add_argument("--detached", action="store_true",
                   help="start in the background (state in --state, default PATH-state)")
    q.add_argument("--mem", type=_positive(int, 64), default=1024,
                   help="guest memory in MB (default 1024)")
    q.add_argument("--cpus", type=_positive(int), default=1, help="guest CPUs (default 1)")
    q.add_argument("--timeout", type=_positive(float), default=None,
                   help="fail if the guest has not powered off after S seconds")
    q.add_argument("--accel", default="auto", choices=["auto", "kvm", "tcg"],
                   help="acceleration: auto probes KVM and falls back to TCG")
    q.set_defaults(func=cmd_run_qemu)

    t = verbs.add_parser("test", help="build and run test cases (directories with test.yml)")
    t.add_argument("paths", nargs="*", metavar="PATH",
                   help="directories of test cases, searched recursively (default .)")
    t.add_argument("-l", "--label", action="append", default=[], metavar="LABEL",
                   help="run the cases that need LABEL too (repeatable)")
    t.add_argument("-x", "--exclude", action="append", default=[], metavar="PATTERN",
                   help="leave out cases whose name matches PATTERN (glob or dotted "
                        "prefix; repeatable)")
    t.add_argument("-j", "--jobs", type=int, default=1, metavar="N",
                   help="run N cases at a time (default 1)")
    t.add_argument("--junit", metavar="FILE", help="write JUnit XML results to FILE")
    t.add_argument("--results", default="_results", metavar="DIR",
                   help="a log directory per case in DIR (default _results)")
    t.add_argument("--keep", action="store_true", help="keep each case's build outputs")
    t.add_argument("--accel", default="auto", choices=["auto", "kvm", "tcg"],
                   help="QEMU acceleration (default auto)")
    t.add_argument("--list", action="store_true", help="list the cases, run none")
    t.set_defaults(func=cmd_test)

    sv = verbs.add_parser("serve", help="serve built outputs over HTTP for network boot")
    sv.add_argument("--port", type=int, default=8080, help="TCP port (default 8080)")
    sv.add_argument("--address", default="127.0.0.1",
                    help="address to listen on (default 127.0.0.1; 0.0.0.0 for every one)")
    sv.add_argument("--directory", default=".", help="directory to serve (default .)")
    sv.set_defaults(func=cmd_serve)

    k = verbs.add_parser("pkg", help="build component packages")
    pkgs = k.add_subparsers(dest="pkgverb", metavar="PKGVERB", required=True)
    pb = pkgs.add_parser("build", help="build package directories into the cache",
                         parents=[reg])
    pb.add_argument("dirs", nargs="+", metavar="DIR")
    pb.add_argument("--push", action="store_true", help="push each image to its registry")
    pb.add_argument("--remote-name", metavar="REF", help="push under this reference instead")
    pb.add_argument("--force", action="store_true", help="rebuild even if the tag is cached")
    pb.add_argument("--refresh", action="store_true", help="re-fetch the Debian indexes")
    pb.set_defaults(func=cmd_pkg_build)
    pt = pkgs.add_parser("show-tag", help="print a package's image reference")
    pt.add_argument("dirs", nargs="+", metavar="DIR")
    pt.add_argument("--canonical", action="store_true",
                    help="print the full reference (docker.io/ORG/NAME:TAG)")
    pt.set_defaults(func=cmd_pkg_show_tag)

    c = verbs.add_parser("cache", help="the local image cache")
    cv = c.add_subparsers(dest="cacheverb", metavar="CACHEVERB", required=True)
    cv.add_parser("ls", help="list the cached images")
    cr = cv.add_parser("rm", help="untag images (cache clean frees their blobs)")
    cr.add_argument("refs", nargs="+", metavar="REF")
    cc = cv.add_parser("clean", help="remove blobs no image uses, and leftovers")
    cc.add_argument("--all", action="store_true", help="remove every image")
    cv.add_parser("verify", help="re-hash every blob; drop corrupt blobs and broken images")
    cp = cv.add_parser("pull", help="pull images from their registries", parents=[reg])
    cp.add_argument("refs", nargs="+", metavar="REF")
    cp.add_argument("--arch", default="amd64",
                    help="platform of a multi-arch image: ARCH or ARCH/VARIANT (default amd64)")
    cu = cv.add_parser("push", help="push a cached image to a registry", parents=[reg])
    cu.add_argument("ref", metavar="REF")
    cu.add_argument("--remote-name", metavar="REF", help="push under this reference instead")
    ce = cv.add_parser("export", help="write a cached image to a tar file")
    ce.add_argument("ref", metavar="REF")
    ce.add_argument("--format", default="oci", choices=["oci", "docker", "filesystem"],
                    help="oci layout, docker load-able, or the flattened files (default oci)")
    ce.add_argument("-o", "--output", required=True, metavar="FILE", help="'-' for stdout")
    ce.add_argument("--arch", default="amd64", help="platform for docker/filesystem exports")
    ci = cv.add_parser("import", help="read an OCI layout tar or a 'docker save' tar")
    ci.add_argument("file", metavar="FILE")
    ci.add_argument("--name", metavar="REF", help="tag the image as REF")
    c.set_defaults(func=cmd_cache)
    return p


class _Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP: unwound like Ctrl-C, reported with the signal's exit code."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _interrupt(signum: int, frame: object) -> None:
    raise _Terminated(signum)


@contextlib.contextmanager
def _terminate_like_ctrl_c() -> Iterator[None]:
    """SIGTERM and SIGHUP end a run the way Ctrl-C does: temporary files are
    removed and VMs stopped. Python allows handlers only in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    log.set_verbosity(1 if (args.verbose or args.debug) else -1 if args.quiet else 0)
    try:
        with _terminate_like_ctrl_c():
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
    except KeyboardInterrupt as exc:
        print("distrokit: interrupted", file=sys.stderr)
        return 128 + (exc.signum if isinstance(exc, _Terminated) else signal.SIGINT)
    except BrokenPipeError:
        # The reader of our standard output went away (| head): stop quietly, as
        # Unix tools do, and keep Python from complaining when it flushes at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except Exception as exc:  # a bug: one line unless --debug
        if args.debug:
            traceback.print_exc()
        else:
            print(f"distrokit: internal error: {type(exc).__name__}: {exc} "
                  "(run with --debug for the traceback)", file=sys.stderr)
        return 70


def entry() -> None:
    sys.exit(main())
