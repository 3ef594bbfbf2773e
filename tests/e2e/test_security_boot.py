"""One boot checks what the YAML grants, inside the running system:
tests/e2e/data/security.yml's onboot containers each check one property
(read-only root, capabilities, binds, sysctl, rlimits, uid/gid, volumes, the
createRuntime hook for runtime.bindNS) and print PASS or FAIL; a service does
too, then the poweroff service stops the machine. Every container uses the
busybox image, which the build unpacks once: the boot also shows that overlays
and binds over another bundle's copy work."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from distrokit.cli import main

pytestmark = [pytest.mark.network, pytest.mark.boot]

ROOT = Path(__file__).resolve().parents[2]
CHECKS = ["readonly", "writable", "no-net-admin", "net-admin", "bind", "sysctl", "rlimit",
          "ids", "uid-by-name", "volume", "bindns", "service"]


@pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None, reason="needs qemu-system-x86")
def test_security_properties_hold_when_booted(tmp_path: Path) -> None:
    from distrokit.image.cache import default_cache_dir

    cache = os.environ.get("DISTROKIT_TEST_CACHE") or str(default_cache_dir())
    system = ROOT / "tests" / "e2e" / "data" / "security.yml"
    assert main(["--cache", cache, "build", "--dir", str(tmp_path), str(system)]) == 0
    result = subprocess.run(
        [sys.executable, "-m", "distrokit", "--cache", cache, "run", "qemu",
         "--timeout", "300", str(tmp_path / "security")],
        stdin=subprocess.DEVNULL, capture_output=True, timeout=360,
    )
    console = result.stdout.decode(errors="replace")
    lines = [line.strip() for line in console.splitlines()]
    assert [line for line in lines if line.startswith("FAIL")] == [], console[-4000:]
    missing = [name for name in CHECKS if f"PASS {name}" not in lines]
    assert missing == [], console[-4000:]
    # runc run keeps a container's exit code, hook or not
    assert "distrokit: onboot container exitcode exited with code 3" in lines, console[-4000:]
    assert result.returncode == 0, console[-3000:] + result.stderr.decode(errors="replace")
