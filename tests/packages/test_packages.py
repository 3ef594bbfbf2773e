"""The component recipes in packages/ and the init system's shell functions.

The boot itself is tested end to end in tests/e2e; here the recipes are
checked for shape, and the container-running functions of the init image run
under a local shell with stub runc and ctr programs."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ROOT / "packages"
CONTAINERS_SH = PACKAGES / "init/usr/libexec/distrokit/containers.sh"
# The init runs busybox ash; any POSIX sh does for these functions.
SHELL = ["busybox", "sh"] if shutil.which("busybox") else ["sh"]

# LinuxKit's org.mobyproject.config keys (a service without name and image).
LABEL_KEYS = {
    "capabilities", "capabilities.add", "ambient", "mounts", "binds", "binds.add", "tmpfs",
    "devices", "command", "env", "cwd", "net", "pid", "ipc", "uts", "userns", "hostname",
    "readonly", "maskedPaths", "readonlyPaths", "uid", "gid", "additionalGids",
    "noNewPrivileges", "oomScoreAdj", "rootfsPropagation", "cgroupsPath", "resources",
    "sysctl", "rlimits", "uidMappings", "gidMappings", "annotations", "runtime",
}
RECIPES = sorted(PACKAGES.glob("*/build.yml"))


def shell_scripts() -> list[Path]:
    return sorted(p for p in PACKAGES.rglob("*")
                  if p.is_file() and p.read_bytes().startswith(b"#!/bin/sh"))


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.parent.name)
def test_recipe_is_well_formed(recipe: Path) -> None:
    data = YAML(typ="safe").load(recipe.read_text())
    assert data["image"] == recipe.parent.name
    for f in data.get("files", []):
        assert f["path"].startswith("/")
        if "source" in f:
            assert (recipe.parent / f["source"]).exists(), f["source"]
        if "mode" in f:
            assert isinstance(f["mode"], str) and int(f["mode"], 8) < 0o10000
    assert set(data.get("config", {})) <= LABEL_KEYS


def test_every_image_of_the_examples_is_a_package() -> None:
    for example in (ROOT / "examples").glob("*.yml"):
        text = example.read_text()
        for ref in text.split('"@pkg:')[1:]:
            assert (example.parent / ref.split('"')[0] / "build.yml").is_file(), example


@pytest.mark.parametrize("script", shell_scripts(), ids=lambda p: str(p.relative_to(PACKAGES)))
def test_shell_script_parses(script: Path) -> None:
    result = subprocess.run([*SHELL, "-n", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def make_bundle(root: Path, name: str, args: list[str], runtime: dict[str, object] | None = None,
                runtime_sh: str | None = None) -> Path:
    bundle = root / name
    (bundle / "rootfs").mkdir(parents=True)
    config = {"ociVersion": "1.2.1", "process": {"args": args},
              "root": {"path": "rootfs", "readonly": True},
              "linux": {"devices": [{"path": "/dev/ttyS0", "type": "c"}]}}
    (bundle / "config.json").write_text(json.dumps(config, indent=2))
    (bundle / "runtime.json").write_text(json.dumps(runtime or {}, indent=2))
    if runtime_sh is not None:
        (bundle / "runtime.sh").write_text(runtime_sh)
    return bundle


def stub(bin_dir: Path, name: str, body: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


def run_functions(tmp_path: Path, commands: str) -> subprocess.CompletedProcess[str]:
    """Source containers.sh, put the stubs first on PATH and run ``commands``."""
    script = (f'. {CONTAINERS_SH}\nPATH={tmp_path / "bin"}:$PATH\nRUN_DIR={tmp_path / "run"}\n'
              f'export LOG={tmp_path / "log"}\n{commands}\n')
    return subprocess.run([*SHELL, "-c", script], capture_output=True, text=True, timeout=30)


def test_run_bundles_runs_in_order_and_reports_failures(tmp_path: Path) -> None:
    onboot = tmp_path / "onboot"
    make_bundle(onboot, "001-second", ["false"],
                runtime_sh=f"echo prepare second >> {tmp_path}/log\n")
    make_bundle(onboot, "000-first", ["true"])
    make_bundle(onboot, "002-third", ["true"])
    (onboot / "003-not-a-bundle").mkdir()
    stub(tmp_path / "bin", "runc", """
echo "runc $*" >> "$LOG"
case "$*" in "run --bundle "*/001-second*) exit 3 ;; esac
""")
    result = run_functions(tmp_path, f"run_bundles {onboot} onboot")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "distrokit: onboot container second exited with code 3\n"
    log = (tmp_path / "log").read_text().splitlines()
    assert log == [
        f"runc run --bundle {onboot}/000-first 000-first",
        "runc delete --force 000-first",
        "prepare second",
        f"runc run --bundle {onboot}/001-second 001-second",
        "runc delete --force 001-second",
        f"runc run --bundle {onboot}/002-third 002-third",
        "runc delete --force 002-third",
    ]


def test_a_failed_runtime_sh_skips_the_container(tmp_path: Path) -> None:
    make_bundle(tmp_path / "onboot", "000-broken", ["true"], runtime_sh="exit 1\n")
    stub(tmp_path / "bin", "runc", 'echo "runc $*" >> "$LOG"\n')
    result = run_functions(tmp_path, f"run_bundles {tmp_path}/onboot onboot")
    assert "onboot container broken: runtime.sh failed, not started" in result.stdout
    assert not (tmp_path / "log").exists()


def test_volumes_are_mounted_as_linuxkit_does(tmp_path: Path) -> None:
    volumes = tmp_path / "containers" / "volumes"
    for name in ("rw", "ro"):
        (volumes / name / "lower").mkdir(parents=True)
        (volumes / name / "merged").mkdir()
    (volumes / "rw" / "tmp").mkdir()
    (volumes / "broken").mkdir()  # no lower/merged: skipped
    # a function, not a stub on PATH: busybox sh runs its own applets first
    result = run_functions(tmp_path, f'mount() {{ echo "mount $*" >> "$LOG"; }}\n'
                                     f"CONTAINERS={tmp_path}/containers\nmount_volumes")
    assert result.returncode == 0, result.stderr
    v = volumes
    assert (tmp_path / "log").read_text().splitlines() == [
        f"mount --bind {v}/ro/lower {v}/ro/merged",
        f"mount -o remount,bind,ro {v}/ro/merged",
        f"mount -t tmpfs -o relatime tmpfs {v}/rw/tmp",
        f"mount -t overlay -o lowerdir={v}/rw/lower,upperdir={v}/rw/tmp/upper,"
        f"workdir={v}/rw/tmp/work overlay {v}/rw/merged",
    ]
    assert (v / "rw" / "tmp" / "upper").is_dir() and (v / "rw" / "tmp" / "work").is_dir()


def test_start_service_gives_containerd_an_absolute_root(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "services", "web", ["httpd"],
                         runtime={"namespace": "my.ns"})
    stub(tmp_path / "bin", "ctr", """
echo "ctr $*" >> "$LOG"
while [ "$#" -gt 1 ]; do [ "$1" = --config ] && cp "$2" "$LOG.spec"; shift; done
""")
    result = run_functions(tmp_path, f"start_service {bundle}")
    assert result.returncode == 0, result.stderr
    log = (tmp_path / "log").read_text()
    assert log == ("ctr -n my.ns run --detach --log-uri "
                   "binary:///usr/libexec/distrokit/console-log "
                   f"--config {tmp_path}/run/services/web.json web\n")
    spec = json.loads((tmp_path / "log.spec").read_text())
    assert spec["root"] == {"path": f"{bundle}/rootfs", "readonly": True}
    assert spec["linux"]["devices"] == [{"path": "/dev/ttyS0", "type": "c"}]


def test_the_default_namespace_is_linuxkits(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path, "svc", ["true"])
    result = run_functions(tmp_path, f"bundle_namespace {bundle}")
    assert result.stdout == "services.linuxkit\n"
