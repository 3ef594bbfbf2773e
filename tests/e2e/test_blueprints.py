"""The reference blueprints in examples/, each built and booted with the
distrokit pytest plugin, checked from outside as a user would. Between them
they boot every component in packages/ (see docs/packages.md)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from distrokit.testing.vm import SSH, VM, ssh_options

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"

pytestmark = [
    pytest.mark.network, pytest.mark.boot,
    pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None,
                       reason="needs qemu-system-x86"),
]

Boot = Callable[..., VM]


def fetch(port: int, path: str = "/", timeout: float = 180) -> str:
    """GET a page from a forwarded port; the server may still be starting."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
                return str(r.read().decode())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def test_minimal_console_login(distrokit_boot: Boot) -> None:
    vm = distrokit_boot(EXAMPLES / "minimal.yml")
    vm.expect("Welcome to distrokit")
    result = vm.run("id -u; cat /etc/hostname 2>/dev/null; hostname").check()
    assert result.output.splitlines()[0] == "0"
    assert "distrokit" in result.output


def test_linuxkit_full_system(distrokit_boot: Boot) -> None:
    vm = distrokit_boot(EXAMPLES / "linuxkit.yml")
    # Test VMs' networking is restricted: QEMU's DHCP server gives an address
    # but no gateway and no DNS server.
    vm.expect(r"sysctl: applied /etc/sysctl.d/90-linuxkit.conf")
    vm.expect(r"ca-certificates: \d{3} certificates")
    vm.expect(r"dhcp: eth0 has address 10\.0\.2\.15/24 via none")
    # sysctl: the package's defaults and the blueprint's own file.
    out = vm.run("cat /proc/sys/vm/max_map_count /proc/sys/net/core/somaxconn").check().output
    assert out.split() == ["262144", "4096"]
    out = vm.run("ip -4 addr show eth0").check().output
    assert "inet 10.0.2.15/24" in out
    # getty's shell sees the system's /etc at /hostroot/etc.
    out = vm.run("grep -c 'BEGIN CERT' /hostroot/etc/ssl/certs/ca-certificates.crt")
    out = out.check().output
    assert int(out) > 100
    # rngd, chronyd and nginx run (getty sees every pid: pid: host).
    out = vm.run("for p in rngd chronyd nginx; do pidof $p >/dev/null && echo $p up; "
                 "done; cat /var/log/ntp.log").output
    assert "rngd up" in out and "chronyd up" in out and "nginx up" in out, out
    assert "chronyd version" in out
    # nginx has exactly its five capabilities (CapEff of its master process).
    out = vm.run("for p in $(pidof nginx); do grep -q master /proc/$p/cmdline && "
                 "grep CapEff /proc/$p/status; done").output
    assert int(out.split()[-1], 16) == sum(1 << bit for bit in (0, 1, 6, 7, 10)), out
    page = fetch(vm.forward(80))
    assert "nginx on distrokit" in page
    vm.sendline("poweroff")
    vm.expect("so long and thanks for all the fish")
    vm.wait_poweroff(60)


def test_web_serves_a_page(distrokit_boot: Boot) -> None:
    vm = distrokit_boot(EXAMPLES / "web.yml", forwards=[80])
    vm.expect(r"dhcp: eth0 has address", timeout=180)
    page = fetch(vm.forwards[("tcp", 80)], timeout=180)
    assert "Hello from a distrokit web server" in page
    assert "404" not in page


def test_sshd_login_with_a_generated_key(distrokit_boot: Boot, tmp_path: Path) -> None:
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "test",
                    "-f", str(key)], check=True)
    public = key.with_suffix(".pub").read_text().strip()
    data = {"ssh": {"entries": {"authorized_keys": {"perm": "0600", "content": public}}}}
    vm = distrokit_boot(EXAMPLES / "sshd.yml", data=json.dumps(data), ssh=SSH(key))
    vm.expect(r"metadata: wrote /run/config/ssh/authorized_keys")
    vm.wait_ssh()
    out = vm.run("id -un; cat /hostroot/run/config/provider; uname -r").check().output
    assert out.splitlines()[:2] == ["root", "cdrom"], out
    # A key that is not authorized does not get in.
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)],
                   check=True)
    denied = subprocess.run(["ssh", *ssh_options(other, vm.forward(22)), "root@127.0.0.1",
                             "true"], stdin=subprocess.DEVNULL, capture_output=True,
                            timeout=120, check=False)
    assert denied.returncode == 255, denied.stderr


def test_persistent_data_survives_a_reboot(distrokit_boot: Boot, tmp_path: Path) -> None:
    disk = f"{tmp_path / 'data.qcow2'},size=256M"
    first = distrokit_boot(EXAMPLES / "persistent.yml", disks=[disk])
    first.expect(r"format: /dev/vda formatted as ext4 \(label DATA\)")
    first.expect(r"mount: /dev/vda mounted on /var/lib/persistent")
    first.expect(r"counter: boot number 1\b")
    first.sendline("")
    first.run("sync").check()
    first.close()
    second = distrokit_boot(EXAMPLES / "persistent.yml", disks=[disk])
    second.expect(r"format: no empty disk to format")
    second.expect(r"counter: boot number 2\b")
    # The system's own view (getty's shell has host pids, not the host's mounts).
    out = second.run("cat /proc/1/root/var/lib/persistent/boots; "
                     "grep ' /var/lib/persistent ' /proc/1/mounts").check().output
    assert out.splitlines()[0] == "2" and "/dev/vda /var/lib/persistent ext4" in out, out
