"""Benchmark of every output format for examples/hello.yml: build time and
artifact size per format (warm cache), and boot-to-poweroff time per format
and firmware under TCG. Medians of several runs; nothing is asserted.

    .venv/bin/python bench/formats.py [--runs N] [--boot-runs N] [--no-boot] [--cache DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from distrokit.output.formats import Format

ROOT = Path(__file__).resolve().parents[1]
HELLO = ROOT / "examples" / "hello.yml"


def timed(argv: list[str]) -> float:
    start = time.monotonic()
    subprocess.run([sys.executable, "-m", "distrokit", "-q", *argv], check=True,
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    return time.monotonic() - start


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3, help="builds per format (default 3)")
    p.add_argument("--boot-runs", type=int, default=2, help="boots per format (default 2)")
    p.add_argument("--no-boot", action="store_true")
    p.add_argument("--cache", help="cache directory (default: the user's)")
    args = p.parse_args()
    cache = ["--cache", args.cache] if args.cache else []
    work = Path(tempfile.mkdtemp(prefix="distrokit-bench-formats-"))
    try:
        timed([*cache, "build", "--dir", str(work / "warm"), str(HELLO)])  # fill the cache
        print(f"examples/hello.yml on {os.cpu_count()} cores; medians "
              f"[{args.runs} builds, {args.boot_runs} TCG boots]")
        print(f"{'format':<18} {'build s':>8} {'size MB':>8}   boot s (poweroff delay 10 s)")
        for fmt in Format:
            out = work / fmt.value
            builds = [timed([*cache, "build", "--dir", str(out), "-f", fmt.value, str(HELLO)])
                      for _ in range(args.runs)]
            size = sum(p.stat().st_size for p in fmt.outputs(out, "hello"))
            boots = []
            if not args.no_boot and fmt is not Format.GCP:
                files = fmt.outputs(out, "hello")
                target = {Format.KERNEL_INITRD: str(out / "hello"),
                          Format.KERNEL_SQUASHFS: str(files[1]),
                          Format.KERNEL_EROFS: str(files[1])}.get(fmt, str(files[0]))
                for fw in fmt.firmware:
                    uefi = ["--uefi"] if fw == "uefi" else []
                    runs = [timed([*cache, "run", "qemu", "--accel", "tcg", "--timeout", "300",
                                   *uefi, target]) for _ in range(args.boot_runs)]
                    boots.append(f"{fw} {statistics.median(runs):.1f}")
            print(f"{fmt.value:<18} {statistics.median(builds):>8.2f} {size / 1e6:>8.1f}   "
                  f"{', '.join(boots) or '-'}", flush=True)
            shutil.rmtree(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
