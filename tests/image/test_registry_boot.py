"""What skopeo pushes, distrokit pulls, builds into a system and boots: an
image named by its registry reference in the YAML, behind basic auth."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from registry_helpers import PASSWORD, USER, RegistryServer

from distrokit.image.cache import Cache, default_cache_dir
from distrokit.image.reference import normalise
from distrokit.pkg.build import build

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.network, pytest.mark.boot]


def test_skopeo_pushed_image_boots(registries: dict[str, RegistryServer], skopeo: str,
                                   tmp_path: Path) -> None:
    if shutil.which("qemu-system-x86_64") is None:
        pytest.skip("needs qemu-system-x86")
    server = registries["basic"]
    cache_dir = Path(os.environ.get("DISTROKIT_TEST_CACHE") or default_cache_dir())
    cache = Cache(cache_dir)
    busybox = normalise(build(ROOT / "packages" / "busybox", cache))
    # A name no build has used: distrokit must pull it. skopeo recompresses the
    # layers with gzip, as most registries' images are.
    remote = f"{server.host}/theirs/busybox:{tmp_path.name}"
    subprocess.run([skopeo, "copy", "--dest-tls-verify=false", "--dest-creds",
                    f"{USER}:{PASSWORD}", "--dest-compress-format", "gzip",
                    f"oci:{cache_dir}:{busybox}", f"docker://{remote}"],
                   check=True, capture_output=True)
    assert cache.lookup(remote) is None
    system = tmp_path / "pulled.yml"
    system.write_text(f"""\
kernel:
  image: "@pkg:{ROOT}/packages/kernel"
  cmdline: "console=ttyS0"
init:
  - "@pkg:{ROOT}/packages/init"
  - "@pkg:{ROOT}/packages/runc"
onboot:
  - name: pulled
    image: {remote}
    command: ["/bin/sh", "-c", "echo hello from a pulled image"]
  - name: off
    image: "@pkg:{ROOT}/packages/poweroff"
    command: ["/bin/sh", "/poweroff.sh", "1"]
""")
    distrokit = [sys.executable, "-m", "distrokit", "--cache", str(cache_dir)]
    subprocess.run([*distrokit, "build", "--registry-creds",
                    f"{server.host}={USER}:{PASSWORD}", "--dir", str(tmp_path), str(system)],
                   check=True, capture_output=True)
    assert cache.lookup(remote) is not None
    result = subprocess.run([*distrokit, "run", "qemu", "--timeout", "240",
                             str(tmp_path / "pulled")],
                            stdin=subprocess.DEVNULL, capture_output=True, timeout=300)
    console = result.stdout.decode(errors="replace")
    assert "hello from a pulled image" in console, console[-3000:]
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    cache.untag(remote)
