"""End to end without booting: data/kitchen-sink.yml, a LinuxKit-style file
using every key, goes through the real command line (``distrokit build
--format tar``) with the images of packages/, and every bundle of the root
filesystem is compared with what LinuxKit's rules give (moby/config.go
ConfigToOCI, moby/build/image.go ImageBundle, moby/build/build.go volumes and
files). The expectations are written out by hand from those rules.

Marked network: on a fresh machine the packages are built from the Debian
archive first (later runs use the cache).
"""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML
from test_spec import DEFAULT_MOUNTS, VALIDATOR

from distrokit.assemble.spec import CAPABILITIES
from distrokit.cli import main

pytestmark = pytest.mark.network

DATA = Path(__file__).parent / "data"
B = "/containers"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tarfile.TarFile]:
    from distrokit.image.cache import default_cache_dir

    work = tmp_path_factory.mktemp("kitchen")
    (work / "kitchen-source.txt").write_text("from the current directory\n")
    (work / "kitchen-home.txt").write_text("from home\n")
    cache = os.environ.get("DISTROKIT_TEST_CACHE") or str(default_cache_dir())
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(work)  # LinuxKit reads a relative files source from the current directory
        mp.setenv("HOME", str(work))
        code = main(["--cache", cache, "build", "--format", "tar", "--dir", str(work / "out"),
                     str(DATA / "kitchen-sink.yml")])
    assert code == 0
    with tarfile.open(work / "out" / "kitchen-sink.tar") as tar:
        yield tar


def member(tar: tarfile.TarFile, path: str) -> tarfile.TarInfo:
    return tar.getmember(path)


def read_json(tar: tarfile.TarFile, path: str) -> Any:
    f = tar.extractfile(path)
    assert f is not None, path
    return json.loads(f.read())


def mounts(config: dict[str, Any]) -> dict[str, Any]:
    return {m["destination"]: m for m in config["mounts"]}


def caps(effective: list[str], ambient: list[str] | None = None) -> dict[str, Any]:
    bounding = sorted({*effective, *(ambient or [])})
    out: dict[str, Any] = {"bounding": bounding, "effective": effective,
                           "inheritable": bounding, "permitted": bounding,
                           "ambient": ambient or []}
    return {k: v for k, v in out.items() if v}  # the runtime-spec's omitempty


RO_DEFAULTS = {
    **DEFAULT_MOUNTS,
    "/dev": {**DEFAULT_MOUNTS["/dev"], "options": [*DEFAULT_MOUNTS["/dev"]["options"], "ro"]},
    "/sys": {**DEFAULT_MOUNTS["/sys"], "options": [*DEFAULT_MOUNTS["/sys"]["options"], "ro"]},
}
BUSYBOX_ENV = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]

# bundle -> the parts of config.json LinuxKit's rules fix, key by key
EXPECTED: dict[str, dict[str, Any]] = {
    "onboot/000-sysctl": {
        "root": {"path": "rootfs", "readonly": True},
        "process.args": ["/bin/sh", "-c", "sysctl net.ipv4.ip_forward"],
        "process.env": BUSYBOX_ENV,  # from the image
        "process.cwd": "/",
        "process.user": {"uid": 0, "gid": 0},
        "process.capabilities": caps(["CAP_SYS_ADMIN"]),
        "process.rlimits": [
            {"type": "RLIMIT_NOFILE", "hard": 2048, "soft": 1024},
            {"type": "RLIMIT_NPROC", "hard": 2**64 - 1, "soft": 2**64 - 1}],
        "linux.sysctl": {"net.ipv4.ip_forward": "1"},
        "linux.namespaces": [{"type": "mount"}],  # net and pid host
        "mounts": RO_DEFAULTS,
    },
    "onboot/001-netns": {
        "root": {"path": "rootfs"},
        "process.capabilities": caps(list(CAPABILITIES)),
        "linux.namespaces": [{"type": "network"}, {"type": "pid"}, {"type": "mount"}],
        "mounts": DEFAULT_MOUNTS,
        # distrokit: runtime interfaces/bindNS run as an OCI createRuntime hook
        "hooks": {"createRuntime": [{
            "path": "/bin/sh", "args": ["sh", f"{B}/onboot/001-netns/runtime-after-create.sh"],
            "env": BUSYBOX_ENV}]},
    },
    "onboot/002-poweroff": {
        # the label: pid host, readonly, CAP_KILL + CAP_SYS_BOOT; capabilities.add appends
        "root": {"path": "rootfs", "readonly": True},
        "process.args": ["/bin/sh", "/poweroff.sh", "3"],
        "process.capabilities": caps(["CAP_KILL", "CAP_SYS_BOOT", "CAP_SYS_TIME"]),
        "linux.namespaces": [{"type": "mount"}],
    },
    "onshutdown/000-bye": {
        "process.user": {"uid": 104, "gid": 1000, "additionalGids": [10, 100]},
        "process.capabilities": caps([]),
        "linux.namespaces": [{"type": "pid"}, {"type": "mount"}],
    },
    "services/app": {
        "root": {"path": "rootfs"},
        "process.args": ["/bin/sh", "-c", "sleep 3600"],
        "process.env": ["A=1", "B=two"],
        "process.cwd": "/tmp",
        # LinuxKit keeps the repeated CAP_NET_ADMIN; distrokit drops it (same set)
        "process.capabilities": caps(["CAP_NET_ADMIN", "CAP_CHOWN"], ["CAP_NET_BIND_SERVICE"]),
        "process.noNewPrivileges": True,
        "process.oomScoreAdj": -500,
        "hostname": "app-host",
        "annotations": {"org.example.kitchen": "sink"},
        "mounts": {
            **DEFAULT_MOUNTS,
            "/proc": {"destination": "/proc", "type": "proc", "source": "proc",
                      "options": ["nosuid"]},
            "/run": {"destination": "/run", "type": "tmpfs", "source": "tmpfs",
                     "options": ["size=10m", "mode=755"]},
            "/scratch": {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs"},
            "/etc/resolv.conf": {"destination": "/etc/resolv.conf", "type": "bind",
                                 "source": "/etc/resolv.conf",
                                 "options": ["rw", "rbind", "rshared"]},
            "/blank": {"destination": "/blank", "type": "bind",
                       "source": f"{B}/volumes/blank/merged",
                       "options": ["rw", "rbind", "rshared"]},
            "/data": {"destination": "/data", "type": "bind",
                      "source": f"{B}/volumes/data/merged", "options": ["ro", "rbind"]},
            "/blank2": {"destination": "/blank2", "type": "bind",
                        "source": f"{B}/volumes/blank/merged", "options": ["rbind", "ro"]},
            "/var": {"destination": "/var", "type": "bind", "source": "/var",
                     "options": ["rbind", "rw"]},
        },
        "linux.namespaces": [{"type": "ipc"}, {"type": "uts"}, {"type": "pid"},
                             {"type": "mount"}],
        "linux.devices": [{"path": "/dev/null", "type": "c", "major": 1, "minor": 3,
                           "fileMode": 0o666}],
        "linux.resources": {
            "devices": [{"allow": False, "access": "rwm"},
                        {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                        {"allow": True, "type": "b", "access": "rwm"}],
            "memory": {"limit": 100000000}, "cpu": {"shares": 512}, "pids": {"limit": 100},
            "blockIO": {"weight": 500},
            "hugepageLimits": [{"pageSize": "2MB", "limit": 0}],  # 2097152 bytes
            "network": {"classID": 7}},
        "linux.cgroupsPath": "/services/app",
        "linux.rootfsPropagation": "shared",
        "linux.maskedPaths": ["/proc/kcore"],
        "linux.readonlyPaths": ["/proc/sys"],
    },
    "services/userns": {
        "root": {"path": "rootfs", "readonly": True},
        "linux.namespaces": [{"type": "pid"}, {"type": "user"}, {"type": "mount"}],
        "linux.uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
        "linux.gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
        "mounts": {
            **RO_DEFAULTS,
            "/lib/modules": {"destination": "/lib/modules", "type": "bind",
                             "source": "/lib/modules", "options": ["ro", "rbind"]},
            "/layout": {"destination": "/layout", "type": "bind",
                        "source": f"{B}/volumes/layout/merged", "options": ["ro", "rbind"]},
        },
    },
    "services/reboot": {  # the YAML's readonly: false wins over the label's true
        "root": {"path": "rootfs"},
        "process.capabilities": caps(["CAP_KILL", "CAP_SYS_BOOT"]),
        "linux.namespaces": [{"type": "mount"}],
    },
}


def get(config: dict[str, Any], path: str) -> Any:
    value: Any = config
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


@pytest.mark.parametrize("bundle", sorted(EXPECTED))
def test_config_json_is_linuxkits(built: tarfile.TarFile, bundle: str) -> None:
    config = read_json(built, f"containers/{bundle}/config.json")
    assert not list(VALIDATOR.iter_errors(config))
    assert config["ociVersion"] == "1.2.1"
    for key, expected in EXPECTED[bundle].items():
        actual = mounts(config) if key == "mounts" else get(config, key)
        assert actual == expected, key
    if bundle != "onboot/001-netns":
        assert "hooks" not in config


def test_runtime_json_and_image_reuse(built: tarfile.TarFile) -> None:
    """An image is unpacked once (in the first bundle that uses it); the
    others' runtime.json mount it from there, as LinuxKit's ImageBundle."""
    busybox_root = f"{B}/onboot/000-sysctl/rootfs"
    runtime = read_json(built, "containers/onboot/000-sysctl/runtime.json")
    assert runtime["mounts"] == [{"destination": busybox_root, "source": busybox_root,
                                  "options": ["bind"]}]
    netns = f"{B}/onboot/001-netns"
    runtime = read_json(built, "containers/onboot/001-netns/runtime.json")
    assert runtime == {
        "cgroups": ["onboot/netns"],
        "mounts": [
            {"destination": f"{netns}/tmp", "type": "tmpfs", "source": "tmpfs"},
            {"destination": f"{netns}/tmp", "options": ["remount", "private"]},
            {"destination": f"{netns}/rootfs", "type": "overlay", "source": "overlay",
             "options": [f"lowerdir={busybox_root}", f"upperdir={netns}/tmp/upper",
                         f"workdir={netns}/tmp/work"]},
            {"destination": "/run/extra", "type": "tmpfs", "source": "tmpfs"},
        ],
        "mkdir": ["/run/netns", f"{netns}/rootfs/var/state"],
        "interfaces": [{"name": "veth0", "peer": "veth1", "createInRoot": False}],
        "bindNS": {"cgroup": "", "ipc": "", "mnt": "", "net": "/run/netns/netns", "pid": "",
                   "user": "", "uts": ""},
        "namespace": "",
    }
    assert read_json(built, "containers/services/userns/runtime.json")["mounts"][0] == {
        "destination": f"{B}/services/userns/rootfs", "source": busybox_root,
        "options": ["bind"]}
    assert read_json(built, "containers/services/app/runtime.json")["namespace"] == \
        "system.kitchen"
    names = built.getnames()
    assert sorted(n for n in names if n.endswith("rootfs/bin/busybox")
                  or n.endswith("lower/bin/busybox")) == [
        "containers/onboot/000-sysctl/rootfs/bin/busybox",
        "containers/onboot/002-poweroff/rootfs/bin/busybox",
        "containers/volumes/data/lower/bin/busybox",
    ]
    for bundle in ("onboot/001-netns", "services/app", "services/reboot",
                   "onshutdown/000-bye"):  # writable: an empty rootfs/ and tmp/, no lower/
        assert member(built, f"containers/{bundle}/rootfs").isdir()
        assert member(built, f"containers/{bundle}/tmp").isdir()
        assert f"containers/{bundle}/lower" not in names
    scripts = [n for n in names if n.endswith("/runtime-after-create.sh")]
    assert scripts == ["containers/onboot/001-netns/runtime-after-create.sh"]


def test_volumes_are_laid_out_as_linuxkit(built: tarfile.TarFile) -> None:
    names = set(built.getnames())
    for name in ("blank", "data", "layout"):
        for part in ("lower", "merged"):
            assert member(built, f"containers/volumes/{name}/{part}").isdir()
    assert "containers/volumes/blank/tmp" in names
    assert "containers/volumes/data/tmp" not in names  # read-only
    assert not [n for n in names if n.startswith("containers/volumes/blank/lower/")]
    resolv = member(built, "containers/volumes/data/lower/etc/resolv.conf")
    assert resolv.issym() and resolv.linkname == "/run/resolvconf/resolv.conf"
    # format: oci is an OCI image layout whose blobs match their digests
    lower = "containers/volumes/layout/lower"
    assert read_json(built, f"{lower}/oci-layout") == {"imageLayoutVersion": "1.0.0"}
    index = read_json(built, f"{lower}/index.json")
    [desc] = index["manifests"]
    assert desc["platform"] == {"architecture": "amd64", "os": "linux"}
    assert desc["annotations"]["org.opencontainers.image.ref.name"].startswith(
        "docker.io/distrokit/busybox:")
    manifest = read_json(built, f"{lower}/blobs/sha256/{desc['digest'].split(':')[1]}")
    for blob in [manifest["config"], *manifest["layers"], desc]:
        f = built.extractfile(f"{lower}/blobs/sha256/{blob['digest'].split(':')[1]}")
        assert f is not None
        assert "sha256:" + hashlib.sha256(f.read()).hexdigest() == blob["digest"]


def test_files_as_linuxkit(built: tarfile.TarFile) -> None:
    def read(path: str) -> bytes:
        f = built.extractfile(path)
        assert f is not None
        return f.read()

    contents = member(built, "etc/kitchen/contents")
    assert (contents.mode, contents.uid, contents.gid) == (0o640, 104, 100)  # app, sysctl
    assert read("etc/kitchen/contents") == b"hello\n"
    parent = [m for m in built.getmembers() if m.name == "etc/kitchen"]
    assert [(m.mode, m.uid, m.gid) for m in parent] == [(0o750, 104, 100)]  # made once
    assert member(built, "etc/kitchen/dir").isdir() and member(built, "etc/kitchen/dir").mode \
        == 0o700
    assert member(built, "etc/kitchen/link").linkname == "/etc/hostname"
    assert read("etc/kitchen/source") == b"from the current directory\n"
    assert member(built, "etc/kitchen/source").mode == 0o600
    assert read("etc/kitchen/home") == b"from home\n"
    assert "etc/kitchen/optional" not in built.getnames()
    for path in ("var/new", "var/new/deep"):  # missing parents: the file's owner, mode + x
        assert (member(built, path).mode, member(built, path).uid) == (0o750, 7)
    # an existing parent keeps its mode (LinuxKit would make /etc 0750 here)
    assert [m.mode for m in built.getmembers() if m.name == "etc"] == [0o755]
    metadata = YAML(typ="safe").load(read("etc/linuxkit-config"))
    assert [s["name"] for s in metadata["services"]] == ["app", "userns", "reboot"]
    assert metadata["volumes"][0] == {"name": "blank"}
    assert metadata["init"][0].startswith("distrokit/init:")  # templates resolved
    assert "trust" not in metadata
