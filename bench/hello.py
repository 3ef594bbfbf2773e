"""Benchmark of examples/hello.yml: cold build (empty cache), warm build
(everything cached), initrd size, and boot-to-poweroff time under TCG.

Each measure is taken several times and reported as a median. Nothing here
asserts a time: these machines are noisy, so targets are read, not tested.

    .venv/bin/python bench/hello.py [--runs N] [--cold-runs N] [--no-boot]

Cold builds download the Debian packages into a throw-away cache each time;
pass --cold-runs 0 to skip them.
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

ROOT = Path(__file__).resolve().parents[1]
HELLO = ROOT / "examples" / "hello.yml"


def distrokit(*args: str, cache: Path) -> float:
    start = time.monotonic()
    subprocess.run([sys.executable, "-m", "distrokit", "-q", "--cache", str(cache), *args],
                   check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    return time.monotonic() - start


def median(values: list[float]) -> str:
    if not values:
        return "-"
    spread = f" (min {min(values):.2f}, max {max(values):.2f})" if len(values) > 1 else ""
    return f"{statistics.median(values):.2f} s{spread}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5, help="warm builds and boots (default 5)")
    p.add_argument("--cold-runs", type=int, default=2, help="cold builds (default 2)")
    p.add_argument("--no-boot", action="store_true", help="skip the boot measurement")
    p.add_argument("--cache", type=Path, help="warm cache to use (default: a fresh one)")
    args = p.parse_args()

    work = Path(tempfile.mkdtemp(prefix="distrokit-bench-"))
    try:
        cold: list[float] = []
        for i in range(args.cold_runs):
            cache = work / f"cold-{i}"
            cold.append(distrokit("build", "--dir", str(work / "out"), str(HELLO), cache=cache))
            shutil.rmtree(cache)
        cache = args.cache or work / "warm"
        distrokit("build", "--dir", str(work / "out"), str(HELLO), cache=cache)  # fill it
        warm = [distrokit("build", "--dir", str(work / "out"), str(HELLO), cache=cache)
                for _ in range(args.runs)]
        initrd = (work / "out" / "hello-initrd.img").stat().st_size
        boots: list[float] = []
        if not args.no_boot:
            for _ in range(args.runs):
                boots.append(distrokit("run", "qemu", "--accel", "tcg", "--timeout", "300",
                                       str(work / "out" / "hello"), cache=cache))
        print(f"examples/hello.yml on {os.cpu_count()} cores")
        print(f"  cold build        {median(cold)}  [{len(cold)} runs]")
        print(f"  warm build        {median(warm)}  [{len(warm)} runs]  target < 2 s")
        print(f"  initrd size       {initrd / 1e6:.1f} MB")
        print(f"  boot to poweroff  {median(boots)}  [{len(boots)} runs, TCG, "
              "includes the blueprint's 10 s poweroff delay]")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
