"""config.json/runtime.json as LinuxKit's ConfigToOCI and ImageBundle write them.

Expectations come from LinuxKit's src/cmd/linuxkit/moby/config.go and
moby/build/image.go (2026-03), not from our code; every generated config.json is
validated against the OCI runtime-spec v1.2.1 schema in data/runtime-spec/.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
from referencing import Registry
from referencing.jsonschema import DRAFT4

from distrokit.assemble.spec import (
    CAPABILITIES,
    UNLIMITED,
    after_create_script,
    assign_ids,
    effective_config,
    runtime_needs_pid,
    runtime_script,
    runtime_spec,
)
from distrokit.log import DistrokitError

SCHEMA_DIR = Path(__file__).parent / "data" / "runtime-spec"


def _validator() -> jsonschema.Draft4Validator:
    registry: Registry = Registry()
    for path in SCHEMA_DIR.glob("*.json"):
        contents = json.loads(path.read_text())
        registry = registry.with_resource(path.name, DRAFT4.create_resource(contents))
    schema = json.loads((SCHEMA_DIR / "config-schema.json").read_text())
    return jsonschema.Draft4Validator(schema, registry=registry)


VALIDATOR = _validator()

IMAGE = {"Entrypoint": ["/bin/app"], "Cmd": ["--serve"], "Env": ["PATH=/bin"],
         "WorkingDir": ""}
IDS = {"dhcpcd": 100, "getty": 101}

DEFAULT_MOUNTS = {
    "/proc": {"destination": "/proc", "type": "proc", "source": "proc",
              "options": ["nosuid", "nodev", "noexec", "relatime"]},
    "/dev": {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    "/dev/pts": {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
                 "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
    "/sys": {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev"]},
    "/sys/fs/cgroup": {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                       "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
}


def build(entry: dict[str, Any], label: dict[str, Any] | None = None,
          image: dict[str, Any] | None = None, **kw: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """effective_config + runtime_spec, and check config.json against the OCI schema."""
    cfg = effective_config(IMAGE if image is None else image, label,
                           {"name": "app", "image": "example/app:1", **entry})
    config, runtime = runtime_spec(cfg, ids=IDS, **kw)
    errors = [e.message for e in VALIDATOR.iter_errors(config)]
    assert not errors, errors
    json.dumps(config), json.dumps(runtime)  # plain JSON values only
    return config, runtime


def get(d: Any, path: str) -> Any:
    for key in path.split("."):
        d = d[int(key)] if isinstance(d, list) else d.get(key, "<absent>")
        if d == "<absent>":
            return d
    return d


def mount(config: dict[str, Any], dest: str) -> Any:
    found = [m for m in config["mounts"] if m["destination"] == dest]
    return found[0] if found else "<absent>"


ABSENT = "<absent>"
ALL_SORTED = sorted(CAPABILITIES)

# (YAML entry snippet, {dotted path in config.json: expected value})
CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("defaults", {}, {
        "ociVersion": "1.2.1",
        "process.args": ["/bin/app", "--serve"],
        "process.env": ["PATH=/bin"],
        "process.cwd": "/",
        "process.user": {"uid": 0, "gid": 0},
        "process.capabilities": {},
        "process.terminal": ABSENT,
        "process.noNewPrivileges": ABSENT,
        "process.oomScoreAdj": ABSENT,
        "process.rlimits": ABSENT,
        "root": {"path": "rootfs"},
        "hostname": ABSENT,
        "annotations": ABSENT,
        "linux.namespaces": [{"type": "pid"}, {"type": "mount"}],
        "linux.resources": {},
        "linux.cgroupsPath": ABSENT,
        "linux.maskedPaths": ABSENT,
        "linux.readonlyPaths": ABSENT,
        "linux.seccomp": ABSENT,
        "linux.devices": ABSENT,
        "linux.sysctl": ABSENT,
    }),
    ("command replaces entrypoint+cmd", {"command": ["/bin/sh", "-c", "x"]},
     {"process.args": ["/bin/sh", "-c", "x"]}),
    ("env replaces image env", {"env": ["INSECURE=true"]}, {"process.env": ["INSECURE=true"]}),
    ("empty env list is set", {"env": []}, {"process.env": ABSENT}),
    ("cwd", {"cwd": "/var/lib"}, {"process.cwd": "/var/lib"}),
    ("caps", {"capabilities": ["CAP_NET_ADMIN", "CAP_CHOWN"]}, {
        "process.capabilities": {
            "bounding": ["CAP_CHOWN", "CAP_NET_ADMIN"],
            "effective": ["CAP_NET_ADMIN", "CAP_CHOWN"],
            "inheritable": ["CAP_CHOWN", "CAP_NET_ADMIN"],
            "permitted": ["CAP_CHOWN", "CAP_NET_ADMIN"]}}),
    ("caps all", {"capabilities": ["all"]}, {
        "process.capabilities.effective": list(CAPABILITIES),
        "process.capabilities.bounding": ALL_SORTED,
        "process.capabilities.permitted": ALL_SORTED,
        "process.capabilities.inheritable": ALL_SORTED}),
    ("caps ALL any case", {"capabilities": ["ALL"]},
     {"process.capabilities.effective": list(CAPABILITIES)}),
    ("caps none", {"capabilities": ["None"]}, {"process.capabilities": {}}),
    ("caps deduplicated", {"capabilities": ["CAP_KILL", "CAP_KILL"]},
     {"process.capabilities.effective": ["CAP_KILL"]}),
    ("ambient joins bounding, not effective",
     {"capabilities": ["CAP_KILL"], "ambient": ["CAP_NET_RAW"]}, {
         "process.capabilities": {
             "bounding": ["CAP_KILL", "CAP_NET_RAW"], "effective": ["CAP_KILL"],
             "inheritable": ["CAP_KILL", "CAP_NET_RAW"],
             "permitted": ["CAP_KILL", "CAP_NET_RAW"], "ambient": ["CAP_NET_RAW"]}}),
    ("ambient all", {"ambient": ["all"]}, {
        "process.capabilities.ambient": list(CAPABILITIES),
        "process.capabilities.bounding": ALL_SORTED,
        "process.capabilities.effective": ABSENT}),
    ("readonly", {"readonly": True}, {"root": {"path": "rootfs", "readonly": True}}),
    ("readonly false", {"readonly": False}, {"root": {"path": "rootfs"}}),
    ("net host", {"net": "host"}, {"linux.namespaces": [{"type": "pid"}, {"type": "mount"}]}),
    ("net new", {"net": "new"},
     {"linux.namespaces": [{"type": "network"}, {"type": "pid"}, {"type": "mount"}]}),
    ("net none", {"net": "none"},
     {"linux.namespaces": [{"type": "network"}, {"type": "pid"}, {"type": "mount"}]}),
    ("net path", {"net": "/run/netns/x"}, {"linux.namespaces": [
        {"type": "network", "path": "/run/netns/x"}, {"type": "pid"}, {"type": "mount"}]}),
    ("pid host", {"pid": "host"}, {"linux.namespaces": [{"type": "mount"}]}),
    ("pid root", {"pid": "root"}, {"linux.namespaces": [{"type": "mount"}]}),
    ("all new, in LinuxKit's order",
     {"net": "new", "ipc": "new", "uts": "new", "pid": "new", "userns": "new"},
     {"linux.namespaces": [{"type": t} for t in
                           ("network", "ipc", "uts", "pid", "user", "mount")]}),
    ("ipc/uts/userns paths",
     {"ipc": "/proc/1/ns/ipc", "uts": "/proc/1/ns/uts", "userns": "/proc/1/ns/user",
      "pid": "/proc/1/ns/pid"},
     {"linux.namespaces": [{"type": "ipc", "path": "/proc/1/ns/ipc"},
                           {"type": "uts", "path": "/proc/1/ns/uts"},
                           {"type": "pid", "path": "/proc/1/ns/pid"},
                           {"type": "user", "path": "/proc/1/ns/user"},
                           {"type": "mount"}]}),
    ("hostname", {"hostname": "box", "uts": "new"}, {"hostname": "box"}),
    ("uid/gid numbers", {"uid": 1000, "gid": 1001},
     {"process.user": {"uid": 1000, "gid": 1001}}),
    ("uid/gid by container name", {"uid": "dhcpcd", "gid": "getty"},
     {"process.user": {"uid": 100, "gid": 101}}),
    ("uid root", {"uid": "root", "gid": ""}, {"process.user": {"uid": 0, "gid": 0}}),
    ("additionalGids", {"additionalGids": [5, "getty"]},
     {"process.user": {"uid": 0, "gid": 0, "additionalGids": [5, 101]}}),
    ("noNewPrivileges", {"noNewPrivileges": True}, {"process.noNewPrivileges": True}),
    ("oomScoreAdj", {"oomScoreAdj": -800}, {"process.oomScoreAdj": -800}),
    ("oomScoreAdj 0 is kept", {"oomScoreAdj": 0}, {"process.oomScoreAdj": 0}),
    ("rlimits", {"rlimits": ["nofile,1024,4096", "RLIMIT_CORE,unlimited,unlimited",
                             " memlock , 0 , UNLIMITED "]},
     {"process.rlimits": [
         {"type": "RLIMIT_NOFILE", "hard": 4096, "soft": 1024},
         {"type": "RLIMIT_CORE", "hard": UNLIMITED, "soft": UNLIMITED},
         {"type": "RLIMIT_MEMLOCK", "hard": UNLIMITED, "soft": 0}]}),
    ("sysctl", {"sysctl": {"net.ipv4.ip_forward": "1"}},
     {"linux.sysctl": {"net.ipv4.ip_forward": "1"}}),
    ("maskedPaths/readonlyPaths", {"maskedPaths": ["/proc/kcore"], "readonlyPaths": ["/proc/sys"]},
     {"linux.maskedPaths": ["/proc/kcore"], "linux.readonlyPaths": ["/proc/sys"]}),
    ("rootfsPropagation", {"rootfsPropagation": "shared"}, {"linux.rootfsPropagation": "shared"}),
    ("cgroupsPath", {"cgroupsPath": "podruntime/app"}, {"linux.cgroupsPath": "podruntime/app"}),
    ("annotations", {"annotations": {"a": "b"}}, {"annotations": {"a": "b"}}),
    ("id mappings", {"userns": "new",
                     "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
                     "gidMappings": [{"containerID": 0, "hostID": 200000, "size": 1}]},
     {"linux.uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
      "linux.gidMappings": [{"containerID": 0, "hostID": 200000, "size": 1}]}),
    ("devices", {"devices": [{"path": "/dev/console", "type": "c", "major": 5, "minor": 1,
                              "mode": "0666"}]},
     {"linux.devices": [{"path": "/dev/console", "type": "c", "major": 5, "minor": 1,
                         "fileMode": 0o666}],
      "linux.resources": {"devices": [{"allow": True, "type": "c", "major": 5, "minor": 1,
                                       "access": "rwm"}]}}),
    ("devices all", {"devices": [{"path": "all", "type": "b"}]},
     {"linux.devices": ABSENT,
      "linux.resources": {"devices": [{"allow": True, "type": "b", "access": "rwm"}]}}),
    ("resources", {"resources": {
        "devices": [{"allow": False, "access": "rwm"}],
        "memory": {"limit": 1 << 30}, "cpu": {"shares": 512, "cpus": "0-1"},
        "pids": {"limit": 100}, "blockio": {"weight": 10},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 4}],
        "network": {"classID": 7}},
        "devices": [{"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "mode": "666"}]},
     {"linux.resources": {
         "devices": [{"allow": False, "access": "rwm"},
                     {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}],
         "memory": {"limit": 1 << 30}, "cpu": {"shares": 512, "cpus": "0-1"},
         "pids": {"limit": 100}, "blockIO": {"weight": 10},
         "hugepageLimits": [{"pageSize": "2MB", "limit": 4}],
         "network": {"classID": 7}}}),
]


@pytest.mark.parametrize(("entry", "expected"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_config_fragments(entry: dict[str, Any], expected: dict[str, Any]) -> None:
    config, _ = build(entry)
    for path, value in expected.items():
        assert get(config, path) == value, path


def test_default_mounts_sorted() -> None:
    config, _ = build({})
    assert config["mounts"] == [DEFAULT_MOUNTS[d] for d in sorted(DEFAULT_MOUNTS)]


def test_readonly_default_mounts() -> None:
    config, _ = build({"readonly": True})
    assert mount(config, "/dev")["options"][-1] == "ro"
    assert mount(config, "/sys")["options"] == ["nosuid", "noexec", "nodev", "ro"]
    assert mount(config, "/proc") == DEFAULT_MOUNTS["/proc"]


MOUNT_CASES: list[tuple[str, dict[str, Any], str, Any]] = [
    ("bind defaults", {"binds": ["/var/log:/var/log"]}, "/var/log",
     {"destination": "/var/log", "type": "bind", "source": "/var/log",
      "options": ["rw", "rbind", "rshared"]}),
    ("bind options + rbind", {"binds": ["/etc/resolv.conf:/etc/resolv.conf:ro"]},
     "/etc/resolv.conf", {"destination": "/etc/resolv.conf", "type": "bind",
                          "source": "/etc/resolv.conf", "options": ["ro", "rbind"]}),
    ("bind several options", {"binds": ["/a:/b:ro,rslave"]}, "/b",
     {"destination": "/b", "type": "bind", "source": "/a", "options": ["ro", "rslave", "rbind"]}),
    ("tmpfs plain", {"tmpfs": ["/run"]}, "/run",
     {"destination": "/run", "type": "tmpfs", "source": "tmpfs"}),
    ("tmpfs options", {"tmpfs": ["/tmp:size=1m,mode=1777"]}, "/tmp",
     {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
      "options": ["size=1m", "mode=1777"]}),
    ("mount given", {"mounts": [{"type": "ext4", "source": "/dev/sda1", "destination": "/data",
                                 "options": ["rw"]}]}, "/data",
     {"destination": "/data", "type": "ext4", "source": "/dev/sda1", "options": ["rw"]}),
    ("mount type from source", {"mounts": [{"source": "mqueue", "destination": "/dev/mqueue"}]},
     "/dev/mqueue", {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue"}),
    ("mount destination from type", {"mounts": [{"type": "mqueue"}]},
     "/dev/mqueue", {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue"}),
    ("mount /dev defaults to tmpfs", {"mounts": [{"destination": "/dev", "options": ["rw"]}]},
     "/dev", {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["rw"]}),
    ("tmpfs beats default", {"tmpfs": ["/dev:size=1m"]}, "/dev",
     {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}),
    ("bind beats tmpfs", {"tmpfs": ["/x"], "binds": ["/y:/x"]}, "/x",
     {"destination": "/x", "type": "bind", "source": "/y",
      "options": ["rw", "rbind", "rshared"]}),
    ("mount beats bind", {"binds": ["/y:/x"],
                          "mounts": [{"type": "tmpfs", "destination": "/x"}]}, "/x",
     {"destination": "/x", "type": "tmpfs", "source": "tmpfs"}),
    ("bind beats default /sys", {"binds": ["/sys:/sys"]}, "/sys",
     {"destination": "/sys", "type": "bind", "source": "/sys",
      "options": ["rw", "rbind", "rshared"]}),
]


@pytest.mark.parametrize(("entry", "dest", "expected"), [c[1:] for c in MOUNT_CASES],
                         ids=[c[0] for c in MOUNT_CASES])
def test_mounts(entry: dict[str, Any], dest: str, expected: Any) -> None:
    config, _ = build(entry)
    assert mount(config, dest) == expected
    dests = [m["destination"] for m in config["mounts"]]
    assert dests == sorted(set(dests))


def test_getty_like_linuxkit() -> None:
    """LinuxKit's getty package label + minimal.yml's entry, the whole config.json."""
    label = {
        "pid": "host", "net": "host",
        "binds": ["/etc/resolv.conf:/etc/resolv.conf", "/run:/run", "/dev:/dev", "/sys:/sys"],
        "devices": [{"path": "/dev/console", "type": "c", "major": 5, "minor": 1,
                     "mode": "0666"}],
        "capabilities": ["all"],
    }
    image = {"Entrypoint": ["/sbin/tini", "-s", "--"], "Cmd": ["/usr/bin/rungetty.sh"],
             "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
             "Labels": {"org.mobyproject.config": "..."}}
    config, _ = build({"name": "getty", "env": ["INSECURE=true"]}, label, image)
    rw = ["rw", "rbind", "rshared"]
    assert config == {
        "ociVersion": "1.2.1",
        "process": {
            "user": {"uid": 0, "gid": 0},
            "args": ["/sbin/tini", "-s", "--", "/usr/bin/rungetty.sh"],
            "env": ["INSECURE=true"],  # the YAML replaces the image's env, PATH included
            "cwd": "/",
            "capabilities": {"bounding": ALL_SORTED, "effective": list(CAPABILITIES),
                             "inheritable": ALL_SORTED, "permitted": ALL_SORTED},
        },
        "root": {"path": "rootfs"},
        "mounts": [
            {"destination": "/dev", "type": "bind", "source": "/dev", "options": rw},
            DEFAULT_MOUNTS["/dev/pts"],
            {"destination": "/etc/resolv.conf", "type": "bind", "source": "/etc/resolv.conf",
             "options": rw},
            DEFAULT_MOUNTS["/proc"],
            {"destination": "/run", "type": "bind", "source": "/run", "options": rw},
            {"destination": "/sys", "type": "bind", "source": "/sys", "options": rw},
            DEFAULT_MOUNTS["/sys/fs/cgroup"],
        ],
        "linux": {
            "resources": {"devices": [{"allow": True, "type": "c", "major": 5, "minor": 1,
                                       "access": "rwm"}]},
            "namespaces": [{"type": "mount"}],
            "devices": [{"path": "/dev/console", "type": "c", "major": 5, "minor": 1,
                         "fileMode": 0o666}],
        },
    }


def test_kitchen_sink_validates() -> None:
    entry = {key: value for _, snippet, _ in CASES for key, value in snippet.items()
             if key not in ("capabilities", "ambient", "pid", "net", "ipc", "uts", "userns")}
    entry |= {"capabilities": ["CAP_SYS_ADMIN"], "ambient": ["CAP_NET_RAW"], "net": "new",
              "uts": "new", "binds": ["/a:/b:ro"], "tmpfs": ["/tmp:size=1m"],
              "mounts": [{"type": "proc", "destination": "/proc2"}]}
    config, _ = build(entry)
    assert config["linux"]["devices"]


# --- label merging -----------------------------------------------------------------


def merged(label: dict[str, Any] | None, entry: dict[str, Any],
           image: dict[str, Any] | None = None) -> dict[str, Any]:
    return effective_config(IMAGE if image is None else image, label,
                            {"name": "app", "image": "x", **entry})


def test_command_order() -> None:
    assert merged(None, {})["command"] == ["/bin/app", "--serve"]
    assert merged({"command": ["/label"]}, {})["command"] == ["/label"]
    assert merged({"command": ["/label"]}, {"command": ["/yaml"]})["command"] == ["/yaml"]
    assert merged(None, {}, {"Cmd": ["/cmd-only"]})["command"] == ["/cmd-only"]
    assert merged(None, {}, {"Entrypoint": None, "Cmd": None})["command"] == []


def test_env_and_cwd_order() -> None:
    image = {"Env": ["A=image"], "WorkingDir": "/image", "Cmd": ["x"]}
    assert merged(None, {}, image)["env"] == ["A=image"]
    assert merged({"env": ["A=label"]}, {}, image)["env"] == ["A=label"]
    assert merged({"env": ["A=label"]}, {"env": ["A=yaml"]}, image)["env"] == ["A=yaml"]
    assert merged(None, {}, {"Cmd": ["x"]})["cwd"] == "/"
    assert merged(None, {}, image)["cwd"] == "/image"
    assert merged({"cwd": "/label"}, {}, image)["cwd"] == "/label"
    assert merged({"cwd": "/label"}, {"cwd": "/yaml"}, image)["cwd"] == "/yaml"
    assert merged({"cwd": "/label"}, {"cwd": ""}, image)["cwd"] == "/label"  # "" is unset


def test_yaml_replaces_label() -> None:
    label = {"readonly": True, "net": "host", "sysctl": {"a": "1"}, "rlimits": ["nofile,1,2"],
             "tmpfs": ["/run"], "uid": 5}
    cfg = merged(label, {"readonly": False, "net": "new", "sysctl": {"b": "2"}})
    assert cfg["readonly"] is False
    assert cfg["net"] == "new"
    assert cfg["sysctl"] == {"b": "2"}
    assert cfg["rlimits"] == ["nofile,1,2"]  # not in YAML: the label's
    assert cfg["tmpfs"] == ["/run"]
    assert cfg["uid"] == 5
    assert merged(label, {"net": ""})["net"] == "host"  # empty string: unset


def test_capabilities_add_appends_to_label() -> None:
    label = {"capabilities": ["CAP_SYS_ADMIN", "CAP_NET_ADMIN"]}
    cfg = merged(label, {"capabilities.add": ["CAP_NET_RAW", "CAP_SYS_ADMIN"]})
    assert cfg["capabilities"] == ["CAP_SYS_ADMIN", "CAP_NET_ADMIN", "CAP_NET_RAW"]
    assert merged(None, {"capabilities.add": ["CAP_KILL"]})["capabilities"] == ["CAP_KILL"]
    assert "capabilities" not in merged(None, {})


def test_capabilities_add_ignored_when_yaml_sets_capabilities(
        capsys: pytest.CaptureFixture[str]) -> None:
    cfg = merged({"capabilities": ["CAP_SYS_ADMIN"]},
                 {"capabilities": ["CAP_KILL"], "capabilities.add": ["CAP_NET_RAW"]})
    assert cfg["capabilities"] == ["CAP_KILL"]
    assert "capabilities.add is ignored" in capsys.readouterr().err


def test_label_add_keys_are_ignored() -> None:
    # LinuxKit never reads capabilities.add/binds.add from the label
    cfg = merged({"capabilities.add": ["CAP_KILL"], "binds.add": ["/a:/a"]}, {})
    assert "capabilities" not in cfg
    assert "binds" not in cfg


def test_binds_add() -> None:
    label = {"binds": ["/run:/run", "/dev:/dev"]}
    assert merged(label, {"binds.add": ["/var:/var"]})["binds"] == [
        "/run:/run", "/dev:/dev", "/var:/var"]
    assert merged(label, {"binds": ["/x:/x"], "binds.add": ["/y:/y"]})["binds"] == ["/x:/x"]
    config, _ = build({"binds.add": ["/var:/var"]}, label)
    assert {"/run", "/dev", "/var"} <= {m["destination"] for m in config["mounts"]}


def test_runtime_merged_per_key() -> None:
    label = {"runtime": {"mkdir": ["/a"], "cgroups": ["c"],
                         "bindNS": {"net": "/run/netns/label", "ipc": "/run/ipc"}}}
    cfg = merged(label, {"runtime": {"mkdir": ["/b"], "bindNS": {"net": "/run/netns/yaml"}}})
    assert cfg["runtime"] == {"cgroups": ["c"], "mkdir": ["/b"],
                              "bindNS": {"ipc": "/run/ipc", "net": "/run/netns/yaml"}}


def test_label_cannot_set_name() -> None:
    with pytest.raises(DistrokitError, match=r"container app: .* label .* sets 'name'"):
        merged({"name": "other"}, {})


def test_null_values_are_unset() -> None:
    cfg = merged({"capabilities": ["CAP_KILL"]}, {"capabilities": None, "command": None})
    assert cfg["capabilities"] == ["CAP_KILL"]
    assert cfg["command"] == ["/bin/app", "--serve"]


# --- ids ---------------------------------------------------------------------------


def test_assign_ids() -> None:
    onboot = [{"name": "sysctl"}, {"name": "dhcpcd"}]
    onshutdown = [{"name": "shutdown"}]
    services = [{"name": "getty"}, {"name": "sshd"}]
    assert assign_ids(onboot + onshutdown + services) == {
        "sysctl": 100, "dhcpcd": 101, "shutdown": 102, "getty": 103, "sshd": 104}
    # a name used twice keeps the later id, and the earlier id stays used
    assert assign_ids([{"name": "a"}, {"name": "b"}, {"name": "a"}]) == {"a": 102, "b": 101}
    assert assign_ids([]) == {}


# --- runtime.json ------------------------------------------------------------------

EMPTY_BIND_NS = dict.fromkeys(("cgroup", "ipc", "mnt", "net", "pid", "user", "uts"), "")


def test_runtime_writable_absolute_like_linuxkit() -> None:
    _, runtime = build({}, bundle="/containers/services/app")
    b = "/containers/services/app"
    assert runtime == {
        "cgroups": [],
        "mounts": [
            {"destination": f"{b}/tmp", "type": "tmpfs", "source": "tmpfs"},
            {"destination": f"{b}/tmp", "options": ["remount", "private"]},
            {"destination": f"{b}/rootfs", "type": "overlay", "source": "overlay",
             "options": [f"lowerdir={b}/lower", f"upperdir={b}/tmp/upper",
                         f"workdir={b}/tmp/work"]},
        ],
        "mkdir": [],
        "interfaces": [],
        "bindNS": EMPTY_BIND_NS,
        "namespace": "",
    }


def test_runtime_writable_relative() -> None:
    _, runtime = build({})
    assert runtime["mounts"] == [
        {"destination": "tmp", "type": "tmpfs", "source": "tmpfs"},
        {"destination": "tmp", "options": ["remount", "private"]},
        {"destination": "rootfs", "type": "overlay", "source": "overlay",
         "options": ["lowerdir=lower", "upperdir=tmp/upper", "workdir=tmp/work"]},
    ]


def test_runtime_readonly() -> None:
    _, runtime = build({"readonly": True}, bundle="/containers/onboot/000-app")
    assert runtime["mounts"] == [{"destination": "/containers/onboot/000-app/rootfs",
                                  "source": "/containers/onboot/000-app/rootfs",
                                  "options": ["bind"]}]
    _, runtime = build({"readonly": True})
    assert runtime["mounts"] == [{"destination": "rootfs", "source": "rootfs",
                                  "options": ["bind"]}]


def test_runtime_user_keys() -> None:
    entry = {"runtime": {
        "cgroups": ["systemreserved"],
        "mkdir": ["/var/lib/x", "var/y"],
        "mounts": [{"type": "bind", "source": "/a", "destination": "b", "options": ["bind"]}],
        "interfaces": [{"name": "eth0"}, {"name": "veth1", "peer": "veth2"},
                       {"name": "wg0", "add": "wireguard", "createInRoot": True}],
        "bindNS": {"net": "/run/netns/app"},
        "namespace": "system",
    }}
    _, runtime = build(entry, bundle="/containers/services/app")
    assert runtime["cgroups"] == ["systemreserved"]
    assert runtime["mkdir"] == ["/var/lib/x", "/containers/services/app/rootfs/var/y"]
    assert runtime["mounts"][-1] == {"destination": "/containers/services/app/rootfs/b",
                                     "type": "bind", "source": "/a", "options": ["bind"]}
    assert runtime["interfaces"] == [
        {"name": "eth0", "createInRoot": False},
        {"name": "veth1", "peer": "veth2", "createInRoot": False},
        {"name": "wg0", "add": "wireguard", "createInRoot": True}]
    assert runtime["bindNS"] == EMPTY_BIND_NS | {"net": "/run/netns/app"}
    assert runtime["namespace"] == "system"
    assert runtime_needs_pid(runtime)
    _, runtime = build({})
    assert not runtime_needs_pid(runtime)


# --- errors ------------------------------------------------------------------------

ERRORS: list[tuple[dict[str, Any], str]] = [
    ({"capabilities": ["CAP_FOO"]}, "container app: unknown capability 'CAP_FOO'"),
    ({"capabilities": ["NET_ADMIN"]}, "unknown capability 'NET_ADMIN' (did you mean"),
    ({"capabilities": ["cap_net_admin"]}, "unknown capability 'cap_net_admin'"),
    ({"capabilities": ["all", "CAP_KILL"]}, "unknown capability 'all'"),
    ({"ambient": ["CAP_BAR"]}, "unknown capability 'CAP_BAR'"),
    ({"rlimits": ["nofile,1"]}, "cannot parse rlimit 'nofile,1'"),
    ({"rlimits": ["nofile,x,2"]}, "cannot parse rlimit 'nofile,x,2': 'x' is not a number"),
    ({"rlimits": ["nofile,-1,2"]}, "'-1' is not a number"),
    ({"rlimits": ["nofile,1,2,3"]}, "'2,3' is not a number"),
    ({"rlimits": ["files,1,2"]}, "unknown rlimit 'files'"),
    ({"rlimits": ["nofile,5,2"]}, "soft limit is above hard limit"),
    ({"binds": ["/a"]}, "cannot parse bind '/a'"),
    ({"binds": ["/a:/b:ro:x"]}, "cannot parse bind '/a:/b:ro:x'"),
    ({"tmpfs": ["/a:b:c"]}, "cannot parse tmpfs '/a:b:c'"),
    ({"mounts": [{"destination": "/x"}]}, "mount for destination '/x' is missing type"),
    ({"mounts": [{"type": "ext4"}]}, "mount of type 'ext4' is missing destination"),
    ({"devices": [{"path": "/dev/x", "type": "c", "major": 1, "minor": 1, "mode": "0999"}]},
     "cannot parse device mode '0999' of /dev/x"),
    ({"devices": [{"path": "/dev/x", "type": "c", "major": 1, "minor": 1}]},
     "cannot parse device mode '' of /dev/x"),
    ({"devices": [{"path": "/dev/x", "type": "z", "mode": "0600"}]}, "unknown type 'z'"),
    ({"uid": "nobody"}, "container app: uid 'nobody' is not a container name"),
    ({"gid": "1000"}, "gid '1000' is not a container name"),
    ({"additionalGids": ["wheel"]}, "additionalGids 'wheel' is not a container name"),
    ({"uid": True}, "uid must be a number or a container name"),
    ({"uid": -1}, "uid -1 is out of range"),
    ({"hostname": "box"}, "hostname 'box' needs a new uts namespace"),
    ({"hostname": "box", "uts": "host"}, "hostname 'box' needs a new uts namespace"),
    ({"net": "bridge"}, "net: 'bridge' is not host, new, none or a namespace path"),
    ({"command": []}, "container app: no command to run"),
    ({"runtime": {"interfaces": [{"add": "veth"}]}}, "runtime interface without a name"),
    ({"runtime": {"interfaces": [{"name": "v", "add": "veth"}]}}, "a veth needs a peer"),
]


@pytest.mark.parametrize(("entry", "message"), ERRORS, ids=[e[1] for e in ERRORS])
def test_errors(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(DistrokitError) as info:
        build(entry)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


# --- runtime script ----------------------------------------------------------------


def script_for(entry: dict[str, Any], bundle: str = "/containers/services/app",
               absolute: bool = False) -> str:
    """The script, from a runtime.json with bundle-relative or (LinuxKit's) absolute paths."""
    _, runtime = build(entry, bundle=bundle if absolute else None)
    return runtime_script(runtime, bundle)


def test_script_writable() -> None:
    text = script_for({})
    b = "/containers/services/app"
    assert text.startswith("#!/bin/sh\n")
    for line in (f"mount -t tmpfs tmpfs {b}/tmp", f"mount --make-private {b}/tmp",
                 f"mkdir -p {b}/tmp/upper", f"mkdir -p {b}/tmp/work",
                 f"mount -t overlay -o lowerdir={b}/lower,upperdir={b}/tmp/upper,"
                 f"workdir={b}/tmp/work overlay {b}/rootfs"):
        assert f"\n{line}\n" in text
    assert "remount" not in text
    assert script_for({}, absolute=True) == text


def test_script_readonly_and_user_parts() -> None:
    entry = {"readonly": True, "runtime": {
        "mkdir": ["var/run", "/run/app"], "cgroups": ["podruntime/x"],
        "mounts": [{"type": "ext4", "source": "/dev/sda1", "destination": "/mnt/data",
                    "options": ["ro", "rshared"]}]}}
    text = script_for(entry, bundle="/c/app")
    assert text == script_for(entry, bundle="/c/app", absolute=True)
    assert "\nmount -o bind /c/app/rootfs /c/app/rootfs\n" in text
    assert "\nmount -t ext4 -o ro /dev/sda1 /mnt/data\nmount --make-rshared /mnt/data\n" in text
    assert "\nmkdir -p /c/app/rootfs/var/run\n" in text
    assert "\nmkdir -p /run/app\n" in text
    assert "\ncgroup podruntime/x\n" in text
    assert text.index("mount -t ext4") < text.index("mkdir -p /run/app") < text.index("cgroup po")


def test_script_quotes_everything() -> None:
    entry = {"runtime": {"mkdir": ["/a b/$(reboot)"], "bindNS": {"net": "/run/it's"}}}
    text = script_for(entry, bundle="/c/my app")
    assert "mkdir -p '/a b/$(reboot)'" in text
    assert "'/c/my app/rootfs'" in text
    subprocess.run(["sh", "-n"], input=text, text=True, check=True)
    _, runtime = build(entry)
    hook = after_create_script(runtime, "/c/my app")
    assert hook is not None
    assert """mount -o bind "/proc/$pid/ns/net" '/run/it'"'"'s'""" in hook


def test_after_create_hook() -> None:
    entry = {"runtime": {"interfaces": [{"name": "eth1"}, {"name": "v0", "peer": "v1"},
                                        {"name": "d0", "add": "dummy"}],
                         "bindNS": {"uts": "/run/ns/uts", "net": "/run/ns/net"}}}
    bundle = "/containers/onboot/000-app"
    config, runtime = build(entry, bundle=bundle)
    assert config["hooks"] == {"createRuntime": [{
        "path": "/bin/sh", "args": ["sh", f"{bundle}/runtime-after-create.sh"],
        "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]}]}
    hook = after_create_script(runtime, bundle)
    assert hook is not None
    assert 'ip link set eth1 netns "$pid"' in hook
    assert "ip link add name v0 type veth\n" in hook
    assert 'ip link set "$p" name v1' in hook
    assert "ip link add name d0 type dummy\n" in hook
    assert hook.index("ns/net") < hook.index("ns/uts")  # LinuxKit's order
    assert "$pid" not in runtime_script(runtime, bundle)
    subprocess.run(["sh", "-n"], input=hook, text=True, check=True)
    # the pid comes from the container state runc gives on stdin
    state = ('{"ociVersion":"1.0.2","id":"x","status":"creating","pid":4242,'
             '"bundle":"/b","annotations":{"a":"\\"pid\\":1"}}')
    pid_line = next(line for line in hook.splitlines() if line.startswith("pid="))
    probe = f'{pid_line}\necho "$pid"\n'
    out = subprocess.run(["sh", "-c", probe], input=state, text=True, capture_output=True)
    assert out.stdout == "4242\n", out.stderr
    # nothing that needs the pid: no hook, no script
    config, runtime = build({}, bundle=bundle)
    assert "hooks" not in config and after_create_script(runtime, bundle) is None


def test_image_root_elsewhere() -> None:
    """An image unpacked in another bundle is mounted from there (LinuxKit's reuse)."""
    other = "/containers/onboot/000-first/lower"
    _, runtime = build({}, bundle="/containers/services/app", image_root=other)
    assert runtime["mounts"][2]["options"][0] == f"lowerdir={other}"
    _, runtime = build({"readonly": True}, bundle="/containers/services/app", image_root=other)
    assert runtime["mounts"][0] == {"destination": "/containers/services/app/rootfs",
                                    "source": other, "options": ["bind"]}


def _can_unshare() -> bool:
    return (os.geteuid() == 0 and shutil.which("busybox") is not None
            and shutil.which("unshare") is not None)


@pytest.mark.skipif(not _can_unshare(), reason="needs root, busybox and unshare")
def test_script_runs_under_busybox(tmp_path: Path) -> None:
    """The filesystem phase really builds the overlay, with busybox tools only."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("sh", "mount", "mkdir", "sed", "ip", "touch", "cat", "ls"):
        (bin_dir / tool).symlink_to(shutil.which("busybox") or "busybox")
    bundle = tmp_path / "bundle"
    (bundle / "lower" / "etc").mkdir(parents=True)
    (bundle / "lower" / "etc" / "hello").write_text("hi\n")
    _, runtime = build({"runtime": {"mkdir": ["var/lib/app"]}})
    (tmp_path / "prep.sh").write_text(runtime_script(runtime, str(bundle)))
    check = (f"sh {tmp_path}/prep.sh && echo new > {bundle}/rootfs/etc/new"
             f" && cat {bundle}/rootfs/etc/hello && ls {bundle}/tmp/upper/etc"
             f" && ls -d {bundle}/rootfs/var/lib/app")
    result = subprocess.run(
        ["unshare", "-m", "--propagation", "private",
         "env", f"PATH={bin_dir}", "sh", "-c", check],
        capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["hi", "new", f"{bundle}/rootfs/var/lib/app"]
