"""One container entry -> its OCI bundle's ``config.json`` and ``runtime.json``.

A container gets exactly the privileges LinuxKit (``moby/config.go``,
``ConfigToOCI``) would give it, so a LinuxKit YAML file means the same thing
here. Three steps, on plain dicts keyed like the YAML:

* :func:`effective_config` merges the image config, the image's
  ``org.mobyproject.config`` label and the YAML entry;
* :func:`runtime_spec` turns that into ``config.json`` and ``runtime.json``;
* :func:`runtime_script` turns ``runtime.json`` into a busybox ``sh`` script,
  because our init has no JSON parser.

Where distrokit parts from LinuxKit on purpose (never in what a container may
do, only where LinuxKit would write a config that cannot work or silently
drops a value):

* ``capabilities``/``ambient``/merged ``binds`` are deduplicated, first one
  wins (LinuxKit's ``mergeStrings`` means to but does not; only the order of
  ``effective`` can differ, never the set).
* ``"none"`` asks for a new namespace for every namespace kind (LinuxKit only
  knows it for ``net`` and writes the path ``none`` for the others, which runc
  rejects); any other value must be ``host``, ``root``, ``new`` or an
  absolute path.
* Errors LinuxKit leaves to runc come at build time: no command at all, an
  rlimit whose soft value exceeds its hard one, a device type or mode runc
  cannot use, an empty tmpfs/bind destination, a ``hostname`` without a new
  ``uts`` namespace, a runtime interface without a name (or a veth without a
  peer).
* ``resources``, ``uidMappings`` and ``gidMappings`` honour the key names the
  LinuxKit schema documents (``hostID``, ``kernelTCP``, ``blockio``...); LinuxKit's
  YAML decoder only matches lower-cased names and silently zeroes those.
* ``runtime.json`` paths: LinuxKit writes absolute paths for the bundle layout
  and resolves a user's relative ``runtime.mounts``/``mkdir`` against the
  container's ``rootfs``. Here, without ``bundle=``, every relative path in
  ``runtime.json`` is relative to the bundle directory (user paths become
  ``rootfs/...``); with ``bundle=`` all paths are absolute, as LinuxKit's.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from distrokit.log import DistrokitError, warn

OCI_VERSION = "1.2.1"  # what LinuxKit's vendored runtime-spec writes
AFTER_CREATE = "runtime-after-create.sh"  # the createRuntime hook's script, in the bundle

# Capabilities LinuxKit knows (moby/sys/capability ListKnown), in number order:
# that is the order "all" expands to.
CAPABILITIES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)  # fmt: skip

RLIMITS = frozenset({
    "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_DATA", "RLIMIT_STACK", "RLIMIT_CORE", "RLIMIT_RSS",
    "RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_MEMLOCK", "RLIMIT_AS", "RLIMIT_LOCKS",
    "RLIMIT_SIGPENDING", "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_RTPRIO", "RLIMIT_RTTIME",
})  # fmt: skip
UNLIMITED = 2**64 - 1

LABEL = "org.mobyproject.config"

# Keys where the YAML value, when given, replaces the label's.
_REPLACED = (
    "ambient", "mounts", "devices", "tmpfs", "readonly", "maskedPaths", "readonlyPaths",
    "uid", "gid", "additionalGids", "noNewPrivileges", "oomScoreAdj", "rootfsPropagation",
    "cgroupsPath", "resources", "sysctl", "rlimits", "uidMappings", "gidMappings", "annotations",
)  # fmt: skip
# String keys where an empty string counts as unset (Go's omitempty strings).
_NONEMPTY = ("net", "pid", "ipc", "uts", "userns", "hostname")
_RUNTIME_REPLACED = ("cgroups", "mounts", "mkdir", "interfaces", "namespace")
_BIND_NS = ("cgroup", "ipc", "mnt", "net", "pid", "user", "uts")  # LinuxKit's bind order
_PROPAGATION = frozenset(
    f"{r}{p}" for r in ("", "r") for p in ("shared", "slave", "private", "unbindable")
)


class SpecError(DistrokitError):
    """An entry no runtime spec can be made from. ``key`` is the entry's key the
    problem is in (``value`` the bad item of a list), so the caller can point
    at the line of the YAML, or at the image label, the value came from."""

    def __init__(self, message: str, hint: str | None = None, key: str | None = None,
                 value: Any = None) -> None:
        super().__init__(message, hint)
        self.key = key
        self.value = value


def _fail(name: str, message: str, hint: str | None = None, key: str | None = None,
          value: Any = None) -> SpecError:
    return SpecError(f"container {name}: {message}", hint, key, value)


def _given(d: Mapping[str, Any], key: str) -> bool:
    # YAML null is the same as leaving the key out (a nil pointer in LinuxKit).
    return d.get(key) is not None


def _unique(items: Iterable[Any]) -> list[Any]:
    return list(dict.fromkeys(items))


def effective_config(image_config: dict[str, Any], label: dict[str, Any] | None,
                     entry: dict[str, Any]) -> dict[str, Any]:
    """Merge an image's config, its ``org.mobyproject.config`` label and the YAML entry.

    As LinuxKit: ``command`` is the image's Entrypoint+Cmd, replaced by the
    label's ``command``, replaced by the YAML's (each when set, even to ``[]``);
    ``env`` likewise from the image's Env; ``cwd`` from ``/``, the image's
    WorkingDir, the label, the YAML (each when non-empty). Every other key: the
    YAML's value replaces the label's; ``runtime`` is merged key by key (and
    ``bindNS`` namespace by namespace). ``capabilities`` is the YAML's list if
    set, else the label's list followed by the YAML's ``capabilities.add``
    (``binds``/``binds.add`` the same). So, as in LinuxKit, ``capabilities.add``
    is ignored when the YAML also sets ``capabilities`` (we warn), and a label's
    own ``.add`` keys are ignored. Unlike LinuxKit, merged lists are
    deduplicated.

    The result is keyed like a YAML entry, has only the keys that are set, plus
    ``command``, ``env``, ``cwd`` and ``readonly`` always. It is what
    :func:`runtime_spec` takes.
    """
    label = label or {}
    name = str(entry.get("name", "?"))
    for key in ("name", "image"):
        if key in label:
            raise _fail(name, f"the {LABEL} label of {entry.get('image')} sets '{key}'",
                        "only the YAML can set name and image")

    cfg: dict[str, Any] = {"name": name, "image": entry.get("image", "")}
    image_cmd = list(image_config.get("Entrypoint") or []) + list(image_config.get("Cmd") or [])
    cfg["command"] = _last_set(image_cmd, label, entry, "command")
    cfg["env"] = _last_set(list(image_config.get("Env") or []), label, entry, "env")
    cwd = "/"
    for value in (image_config.get("WorkingDir"), label.get("cwd"), entry.get("cwd")):
        cwd = value or cwd
    cfg["cwd"] = cwd

    for key in _NONEMPTY:
        value = entry.get(key) or label.get(key)
        if value:
            cfg[key] = value
    for key in _REPLACED:
        source = entry if _given(entry, key) else label
        if _given(source, key):
            cfg[key] = source[key]
    cfg["readonly"] = bool(cfg.get("readonly", False))

    for key in ("capabilities", "binds"):
        if _given(entry, key):
            if _given(entry, f"{key}.add"):
                warn(f"container {name}: {key}.add is ignored because {key} is set")
            cfg[key] = _unique(entry[key])
        elif _given(label, key) or _given(entry, f"{key}.add"):
            cfg[key] = _unique([*(label.get(key) or []), *(entry.get(f"{key}.add") or [])])

    runtime = _merge_runtime(label.get("runtime") or {}, entry.get("runtime") or {})
    if runtime:
        cfg["runtime"] = runtime
    return cfg


def _last_set(base: list[Any], label: Mapping[str, Any], entry: Mapping[str, Any],
              key: str) -> list[Any]:
    for source in (entry, label):
        if _given(source, key):
            return list(source[key])
    return base


def _merge_runtime(label: Mapping[str, Any], entry: Mapping[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for key in _RUNTIME_REPLACED:
        source = entry if _given(entry, key) else label
        if _given(source, key):
            merged[key] = source[key]
    label_ns, entry_ns = label.get("bindNS") or {}, entry.get("bindNS") or {}
    bind_ns = {ns: (entry_ns if _given(entry_ns, ns) else label_ns).get(ns) for ns in _BIND_NS}
    bind_ns = {ns: path for ns, path in bind_ns.items() if path is not None}
    if bind_ns:
        merged["bindNS"] = bind_ns
    return merged


def assign_ids(containers: list[dict[str, Any]]) -> dict[str, int]:
    """Container name -> uid/gid a YAML can refer to by name.

    ``containers`` is onboot, onshutdown and services in that order; ids count
    from 100 in that order, as LinuxKit. A repeated name takes the later id
    (the id of the earlier one is still used up).
    """
    return {str(c["name"]): 100 + i for i, c in enumerate(containers)}


def runtime_spec(cfg: dict[str, Any], *, ids: dict[str, int], bundle: str | None = None,
                 image_root: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(config.json, runtime.json)`` for an :func:`effective_config` result.

    ``ids`` is :func:`assign_ids`' map, for ``uid``/``gid``/``additionalGids``
    given as container names. ``bundle`` is the bundle's absolute path in the
    built system (e.g. ``/containers/services/getty``); with it ``runtime.json``
    has LinuxKit's absolute paths, without it paths relative to the bundle.
    ``image_root`` is where the image is unpacked when another bundle already
    holds it (LinuxKit unpacks an image once): the overlay's lower directory,
    or the source of a read-only container's root bind.

    With ``bundle``, a container whose ``runtime.json`` has work that needs its
    pid (:func:`runtime_needs_pid`) gets an OCI ``createRuntime`` hook running
    ``BUNDLE/runtime-after-create.sh`` (see :func:`after_create_script`): the
    one moment both ``runc run`` and containerd give. LinuxKit's init does that
    work between ``runc create`` and ``runc start`` instead, and cannot for
    services; its ``config.json`` has no hooks.
    """
    name = str(cfg.get("name", "?"))
    readonly = bool(cfg.get("readonly", False))
    args = [str(a) for a in cfg.get("command") or []]
    if not args:
        raise _fail(name, "no command to run",
                    "the image has no Entrypoint or Cmd; set command in the YAML", "command")

    caps = _capabilities(name, "capabilities", cfg.get("capabilities"))
    ambient = _capabilities(name, "ambient", cfg.get("ambient"))
    bounding = sorted({*caps, *ambient})
    capabilities = {"bounding": bounding, "effective": caps, "inheritable": bounding,
                    "permitted": bounding, "ambient": ambient}

    user: dict[str, Any] = {"uid": _id(name, "uid", cfg.get("uid"), ids),
                            "gid": _id(name, "gid", cfg.get("gid"), ids)}
    groups = [_id(name, "additionalGids", g, ids) for g in cfg.get("additionalGids") or []]
    process: dict[str, Any] = {
        "user": _compact(user | {"additionalGids": groups}),
        "args": args,
        "env": [str(e) for e in cfg.get("env") or []],
        "cwd": str(cfg.get("cwd") or "/"),
        "capabilities": _compact(capabilities),
        "rlimits": [_rlimit(name, r) for r in cfg.get("rlimits") or []],
        "noNewPrivileges": bool(cfg.get("noNewPrivileges", False)),
    }
    if cfg.get("oomScoreAdj") is not None:  # 0 is a value here
        process["oomScoreAdj"] = int(cfg["oomScoreAdj"])

    namespaces = _namespaces(name, cfg)
    hostname = str(cfg.get("hostname") or "")
    if hostname and {"type": "uts"} not in namespaces:  # runc refuses it
        raise _fail(name, f"hostname '{hostname}' needs a new uts namespace", "add uts: new",
                    "hostname")
    devices, device_rules = _devices(name, cfg.get("devices") or [])
    linux: dict[str, Any] = {
        "uidMappings": [_mapping(m) for m in cfg.get("uidMappings") or []],
        "gidMappings": [_mapping(m) for m in cfg.get("gidMappings") or []],
        "sysctl": {str(k): str(v) for k, v in (cfg.get("sysctl") or {}).items()},
        "resources": _resources(cfg.get("resources") or {}, device_rules),
        "cgroupsPath": cfg.get("cgroupsPath") or "",
        "namespaces": namespaces,
        "devices": devices,
        "rootfsPropagation": cfg.get("rootfsPropagation") or "",
        "maskedPaths": list(cfg.get("maskedPaths") or []),
        "readonlyPaths": list(cfg.get("readonlyPaths") or []),
    }
    config = {
        "ociVersion": OCI_VERSION,
        "process": _compact(process, keep=("user", "cwd", "capabilities")),
        "root": _compact({"path": "rootfs", "readonly": readonly}, keep=("path",)),
        "hostname": hostname,
        "mounts": _mounts(name, cfg, readonly),
        "annotations": {str(k): str(v) for k, v in (cfg.get("annotations") or {}).items()},
        "linux": _compact(linux, keep=("resources",)),
    }
    runtime = _runtime(name, cfg, readonly, bundle, image_root)
    if bundle and runtime_needs_pid(runtime):
        hook = {"path": "/bin/sh", "args": ["sh", posixpath.join(bundle, AFTER_CREATE)],
                "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]}
        config["hooks"] = {"createRuntime": [hook]}
    return _compact(config, keep=("ociVersion",)), runtime


def _compact(d: dict[str, Any], keep: Iterable[str] = ()) -> dict[str, Any]:
    """Drop empty values, as Go's ``omitempty`` does (``keep`` names the exceptions)."""
    kept = set(keep)
    return {k: v for k, v in d.items() if k in kept or not _empty(v)}


def _empty(value: Any) -> bool:
    # not "not value": a uid, an oomScoreAdj or a major number of 0 is a value
    return value is None or value is False or (isinstance(value, (str, list, dict)) and not value)


def _capabilities(name: str, key: str, given: list[str] | None) -> list[str]:
    caps = [str(c) for c in given or []]
    if len(caps) == 1 and caps[0].lower() in ("all", "none"):
        return list(CAPABILITIES) if caps[0].lower() == "all" else []
    for cap in caps:
        if cap not in CAPABILITIES:
            guess = "CAP_" + cap.upper().removeprefix("CAP_")
            hint = f"did you mean '{guess}'?" if guess in CAPABILITIES else None
            raise _fail(name, f"unknown capability '{cap}'", hint, key, cap)
    return _unique(caps)


def _id(name: str, key: str, value: Any, ids: Mapping[str, int]) -> int:
    if value is None or value in ("", "root"):
        return 0
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise _fail(name, f"{key} must be a number or a container name, not {value!r}",
                    key=key, value=value)
    if isinstance(value, str):
        if value not in ids:
            raise _fail(name, f"{key} '{value}' is not a container name",
                        "use a number or the name of an onboot, onshutdown or service container",
                        key, value)
        return ids[value]
    if not 0 <= value < 2**32:
        raise _fail(name, f"{key} {value} is out of range", key=key, value=value)
    return value


def _rlimit(name: str, text: str) -> dict[str, Any]:
    parts = [p.strip() for p in str(text).split(",", 2)]
    if len(parts) != 3:
        raise _fail(name, f"cannot parse rlimit '{text}'", "expected 'name,soft,hard'",
                    "rlimits", text)
    kind = parts[0].upper()
    kind = kind if kind.startswith("RLIMIT_") else f"RLIMIT_{kind}"
    if kind not in RLIMITS:
        raise _fail(name, f"unknown rlimit '{parts[0]}' in '{text}'", key="rlimits", value=text)
    soft, hard = (_limit(name, text, p) for p in parts[1:])
    if soft > hard:
        raise _fail(name, f"rlimit '{text}': soft limit is above hard limit", key="rlimits",
                    value=text)
    return {"type": kind, "hard": hard, "soft": soft}


def _limit(name: str, text: str, value: str) -> int:
    if value.lower() == "unlimited":
        return UNLIMITED
    if not (value.isascii() and value.isdigit()) or int(value) > UNLIMITED:  # as ParseUint
        raise _fail(name, f"cannot parse rlimit '{text}': '{value}' is not a number",
                    key="rlimits", value=text)
    return int(value)


def _mapping(m: Mapping[str, Any]) -> dict[str, int]:
    return {k: int(m.get(k, 0)) for k in ("containerID", "hostID", "size")}


def _devices(name: str, given: list[dict[str, Any]]) -> tuple[list[dict[str, Any]],
                                                                list[dict[str, Any]]]:
    """Device nodes, and the device-cgroup rules that let the container use them."""
    devices: list[dict[str, Any]] = []
    rules: list[dict[str, Any]] = []
    for dev in given:
        path, kind = str(dev.get("path", "")), str(dev.get("type", ""))
        if path == "all":  # a whole class of devices, cgroup access only
            if kind not in ("", "a", "b", "c"):
                raise _fail(name, f"device 'all' has unknown type '{kind}'", "use a, b or c",
                            "devices", dev)
            rules.append(_compact({"allow": True, "type": kind, "access": "rwm"}, keep=("allow",)))
            continue
        if kind not in ("c", "b", "u", "p"):
            raise _fail(name, f"device {path} has unknown type '{kind}'", "use c, b, u or p",
                        "devices", dev)
        mode = str(dev.get("mode", ""))
        if not re.fullmatch(r"[0-7]{1,4}", mode) or int(mode, 8) > 0o777:
            raise _fail(name, f"cannot parse device mode '{mode}' of {path}",
                        "expected an octal permission such as '0666'", "devices", dev)
        major, minor = int(dev.get("major", 0)), int(dev.get("minor", 0))
        devices.append({"path": path, "type": kind, "major": major, "minor": minor,
                        "fileMode": int(mode, 8)})
        rules.append({"allow": True, "type": kind, "major": major, "minor": minor,
                      "access": "rwm"})
    return devices, rules


def _resources(given: Mapping[str, Any], device_rules: list[dict[str, Any]]) -> dict[str, Any]:
    """OCI ``linux.resources`` from the YAML's (LinuxKit schema key names)."""
    out: dict[str, Any] = {}
    rules = [_device_rule(r) for r in given.get("devices") or []] + device_rules
    if rules:
        out["devices"] = rules
    for key in ("memory", "cpu", "pids"):
        if given.get(key) is not None:
            out[key] = dict(given[key])
    blockio = given.get("blockio", given.get("blockIO"))
    if blockio is not None:
        out["blockIO"] = dict(blockio)
    if given.get("hugepageLimits"):
        out["hugepageLimits"] = [{"pageSize": _page_size(h.get("pageSize", 0)),
                                  "limit": int(h.get("limit", 0))}
                                 for h in given["hugepageLimits"]]
    if given.get("network") is not None:
        out["network"] = dict(given["network"])
    return out


def _page_size(size: Any) -> str:
    """LinuxKit's schema gives a page size in bytes; OCI (and runc) want it as
    "2MB": the largest unit that divides it."""
    if isinstance(size, str):
        return size
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if size >= scale and size % scale == 0:
            return f"{size // scale}{unit}"
    return f"{size}B"


def _device_rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("allow", "type", "major", "minor", "access")
    return {"allow": bool(rule.get("allow", False))} | {
        k: rule[k] for k in keys[1:] if rule.get(k) not in (None, "")}


def _namespaces(name: str, cfg: Mapping[str, Any]) -> list[dict[str, str]]:
    """net, ipc, uts, user default to the host's, pid to a new one; mount is always new."""
    namespaces = []
    for key, kind, default in (("net", "network", "host"), ("ipc", "ipc", "host"),
                               ("uts", "uts", "host"), ("pid", "pid", "new"),
                               ("userns", "user", "host")):
        value = str(cfg.get(key) or default)
        if value in ("host", "root"):
            continue
        if value in ("new", "none"):
            namespaces.append({"type": kind})
        elif value.startswith("/"):
            namespaces.append({"type": kind, "path": value})
        else:
            raise _fail(name, f"{key}: '{value}' is not host, new, none or a namespace path",
                        key=key)
    namespaces.append({"type": "mount"})
    return namespaces


def _mount(destination: str, kind: str, source: str,
           options: Iterable[str] | None) -> dict[str, Any]:
    return _compact({"destination": destination, "type": kind, "source": source,
                     "options": [str(o) for o in options or []]}, keep=("destination",))


def _mounts(name: str, cfg: Mapping[str, Any], readonly: bool) -> list[dict[str, Any]]:
    """Default mounts < tmpfs < binds < mounts, one per destination, sorted by it."""
    ro = ["ro"] if readonly else []
    # Docker's defaults, as LinuxKit (no /dev/shm, no /dev/mqueue)
    mounts = {m["destination"]: m for m in (
        _mount("/proc", "proc", "proc", ["nosuid", "nodev", "noexec", "relatime"]),
        _mount("/dev", "tmpfs", "tmpfs", ["nosuid", "strictatime", "mode=755", "size=65536k", *ro]),
        _mount("/dev/pts", "devpts", "devpts",
               ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]),
        _mount("/sys", "sysfs", "sysfs", ["nosuid", "noexec", "nodev", *ro]),
        _mount("/sys/fs/cgroup", "cgroup", "cgroup",
               ["nosuid", "noexec", "nodev", "relatime", "ro"]),
    )}
    for text in cfg.get("tmpfs") or []:
        parts = str(text).split(":")
        if len(parts) > 2 or not parts[0]:
            raise _fail(name, f"cannot parse tmpfs '{text}'", "expected 'destination[:options]'",
                        "tmpfs", text)
        opts = parts[1].split(",") if len(parts) == 2 else None
        mounts[parts[0]] = _mount(parts[0], "tmpfs", "tmpfs", opts)
    for text in cfg.get("binds") or []:
        parts = str(text).split(":")
        if not 2 <= len(parts) <= 3 or not parts[0] or not parts[1]:
            raise _fail(name, f"cannot parse bind '{text}'",
                        "expected 'source:destination[:options]'", "binds", text)
        opts = ["rw", "rbind", "rshared"]  # LinuxKit's default when no options are given
        if len(parts) == 3:
            opts = [o for o in parts[2].split(",") if o] + ["rbind"]
        mounts[parts[1]] = _mount(parts[1], "bind", parts[0], opts)
    for m in cfg.get("mounts") or []:
        mount = _oci_mount(name, m)
        mounts[mount["destination"]] = mount
    return [mounts[d] for d in sorted(mounts)]


_DEFAULT_MOUNTPOINTS = {"proc": "/proc", "devpts": "/dev/pts", "sysfs": "/sys",
                        "cgroup": "/sys/fs/cgroup", "mqueue": "/dev/mqueue"}


def _oci_mount(name: str, m: Mapping[str, Any]) -> dict[str, Any]:
    """A YAML ``mounts`` entry, with LinuxKit's guesses for a missing type/source/destination."""
    kind, source, dest = (str(m.get(k) or "") for k in ("type", "source", "destination"))
    if not kind and source in ("mqueue", "devpts", "proc", "sysfs", "cgroup"):
        kind = source
    if not kind and dest == "/dev":
        kind = "tmpfs"
    if not kind:
        raise _fail(name, f"mount for destination '{dest}' is missing type", key="mounts",
                    value=m)
    dest = dest or _DEFAULT_MOUNTPOINTS.get(kind, "")
    if not dest:
        raise _fail(name, f"mount of type '{kind}' is missing destination", key="mounts",
                    value=m)
    return _mount(dest, kind, source or kind, m.get("options"))


def _runtime(name: str, cfg: Mapping[str, Any], readonly: bool, bundle: str | None,
             image_root: str | None) -> dict[str, Any]:
    """runtime.json: the bundle's own rootfs mounts first, then what the YAML asks."""

    def at(path: str) -> str:  # a path in the bundle
        return posixpath.join(bundle, path) if bundle else path

    def in_rootfs(path: str) -> str:  # LinuxKit: relative runtime paths are in rootfs
        return path if path.startswith("/") else at(posixpath.join("rootfs", path))

    if readonly:  # bind rootfs onto itself: runc wants the root to be a mount point
        layout = [_mount(at("rootfs"), "", image_root or at("rootfs"), ["bind"])]
    else:  # the image in lower/ under a tmpfs upper layer, merged at rootfs/
        layout = [
            _mount(at("tmp"), "tmpfs", "tmpfs", None),
            _mount(at("tmp"), "", "", ["remount", "private"]),  # keep the layers to ourselves
            _mount(at("rootfs"), "overlay", "overlay",
                   [f"lowerdir={image_root or at('lower')}", f"upperdir={at('tmp/upper')}",
                    f"workdir={at('tmp/work')}"]),
        ]
    rt = cfg.get("runtime") or {}
    user_mounts = []
    for m in rt.get("mounts") or []:
        mount = _mount(str(m.get("destination") or ""), str(m.get("type") or ""),
                       str(m.get("source") or ""), m.get("options"))
        if not mount["destination"]:
            raise _fail(name, "runtime mount without a destination", key="runtime")
        mount["destination"] = in_rootfs(mount["destination"])
        user_mounts.append(mount)
    interfaces = []
    for iface in rt.get("interfaces") or []:
        ifname, add, peer = (str(iface.get(k) or "") for k in ("name", "add", "peer"))
        if not ifname:
            raise _fail(name, "runtime interface without a name", key="runtime")
        if (add or ("veth" if peer else "")) == "veth" and not peer:
            raise _fail(name, f"runtime interface {ifname}: a veth needs a peer", key="runtime")
        interfaces.append(_compact({"name": ifname, "add": add, "peer": peer})
                          | {"createInRoot": bool(iface.get("createInRoot", False))})
    bind_ns = rt.get("bindNS") or {}
    return {
        "cgroups": [str(c) for c in rt.get("cgroups") or []],
        "mounts": layout + user_mounts,
        "mkdir": [in_rootfs(str(d)) for d in rt.get("mkdir") or []],
        "interfaces": interfaces,
        "bindNS": {ns: str(bind_ns.get(ns) or "") for ns in _BIND_NS},
        "namespace": str(rt.get("namespace") or ""),
    }


def runtime_needs_pid(runtime: dict[str, Any]) -> bool:
    """Whether ``runtime.json`` has work that needs the container's pid (its
    interfaces, bindNS): then the bundle gets a hook, see :func:`after_create_script`."""
    return bool(runtime.get("interfaces")) or any((runtime.get("bindNS") or {}).values())


class _Raw(str):
    """A shell word that is already quoted (it expands a variable)."""


_PID = _Raw('"$pid"')


def _sh(*argv: str) -> str:
    return " ".join(a if isinstance(a, _Raw) else shlex.quote(a) for a in argv)


def runtime_script(runtime: dict[str, Any], bundle: str) -> str:
    """A busybox ``sh`` script doing what ``runtime.json`` asks before the
    container is created: mounts (making each destination, and an overlay's
    upperdir/workdir), then ``mkdir``, then ``cgroups`` (v2, or every v1
    hierarchy), as LinuxKit's init does. The init runs it before ``runc run``
    or ``ctr run``; what needs the container's pid is in
    :func:`after_create_script`.

    Relative paths (destinations, ``mkdir``, overlay directories, the source of
    a bind mount) are taken relative to ``bundle``. Propagation options
    (``private``, ``rshared``...) become ``mount --make-*`` commands; a bare
    ``remount`` that only carries one (LinuxKit's own ``remount,private``) is
    dropped (the kernel would ignore the propagation in it anyway).
    ``namespace`` (containerd's) is read by the init itself.
    """

    def at(path: str) -> str:
        return path if path.startswith("/") else posixpath.join(bundle, path)

    lines: list[str] = []
    for m in runtime.get("mounts") or []:
        lines += _mount_commands(m, at)
    lines += [_sh("mkdir", "-p", at(d)) for d in runtime.get("mkdir") or []]
    if runtime.get("cgroups"):
        lines += [
            "cgroup() {",
            '\tif [ -e /sys/fs/cgroup/cgroup.controllers ]; then mkdir -p "/sys/fs/cgroup/$1"',
            '\telse for h in /sys/fs/cgroup/*/; do mkdir -p "$h$1"; done; fi',
            "}",
        ]
        lines += [_sh("cgroup", c.lstrip("/")) for c in runtime["cgroups"]]
    return "\n".join([
        "#!/bin/sh",
        f"# Generated by distrokit from the runtime.json of {bundle}:",
        "# prepares the bundle; the init runs it before the container is created.",
        "set -eu",
        *lines,
    ]) + "\n"


def after_create_script(runtime: dict[str, Any], bundle: str) -> str | None:
    """The ``createRuntime`` hook's script: ``interfaces`` and ``bindNS``, which
    need the container's process. None when ``runtime.json`` asks for neither.

    runc runs it in the host's namespaces once the container's namespaces
    exist, before the container's program starts, with the container's state
    (JSON, holding its ``pid``) on standard input; a failure stops the start.
    Busybox ``ip`` cannot name a veth peer: the peer it auto-names is renamed.
    Links are made in the root namespace and then moved (LinuxKit makes them
    inside unless ``createInRoot``); busybox ``ip`` knows only some link types.
    """
    if not runtime_needs_pid(runtime):
        return None
    lines: list[str] = []
    for iface in runtime.get("interfaces") or []:
        lines += _interface_commands(iface)
    for ns in _BIND_NS:
        path = (runtime.get("bindNS") or {}).get(ns) or ""
        if path:  # the target must exist as a file to bind a namespace onto it
            lines += [_sh("mkdir", "-p", posixpath.dirname(path) or "/"), _sh("touch", path),
                      _sh("mount", "-o", "bind", _Raw(f'"/proc/$pid/ns/{ns}"'), path)]
    return "\n".join([
        "#!/bin/sh",
        f"# Generated by distrokit from the runtime.json of {bundle}: the OCI",
        "# createRuntime hook; the container's state (JSON) is on standard input.",
        "set -eu",
        # the first "pid" is the state's own (annotations come after it)
        """pid=$(grep -o '"pid": *[0-9]*' | head -n 1 | tr -dc 0-9)""",
        '[ -n "$pid" ] || { echo "no pid in the container state" >&2; exit 1; }',
        *lines,
    ]) + "\n"


def _mount_commands(m: Mapping[str, Any], at: Callable[[str], str]) -> list[str]:
    dest = at(str(m["destination"]))
    kind, source = str(m.get("type") or ""), str(m.get("source") or "")
    options = [str(o) for o in m.get("options") or []]
    propagation = [o for o in options if o in _PROPAGATION]
    rest = [_resolve_option(o, at) for o in options if o not in _PROPAGATION]
    if source and {"bind", "rbind"} & set(rest):  # only a bind's source is surely a path
        source = at(source)
    commands = [_sh("mkdir", "-p", dest)]
    for o in rest:  # overlayfs wants its upper and work directories to exist
        key, _, value = o.partition("=")
        if key in ("upperdir", "workdir"):
            commands.append(_sh("mkdir", "-p", value))
    if kind or source or rest != ["remount"] or not propagation:
        argv = ["mount"] + (["-t", kind] if kind else []) + (["-o", ",".join(rest)] if rest else [])
        if source or "remount" not in rest:
            argv.append(source or kind or "none")
        commands.append(_sh(*argv, dest))
    commands += [_sh("mount", f"--make-{p}", dest) for p in propagation]
    return commands


def _resolve_option(option: str, at: Callable[[str], str]) -> str:
    key, eq, value = option.partition("=")
    if key in ("lowerdir", "upperdir", "workdir") and eq:
        return f"{key}=" + ":".join(at(v) for v in value.split(":"))
    return option


def _interface_commands(iface: Mapping[str, Any]) -> list[str]:
    name, add, peer = (str(iface.get(k) or "") for k in ("name", "add", "peer"))
    if peer and not add:
        add = "veth"
    commands = []
    if add == "veth":
        # busybox ip ignores "peer name": find the peer it made and rename it
        commands += [
            _sh("ip", "link", "add", "name", name, "type", "veth"),
            f"p=$(ip -o link show {shlex.quote(name)}"
            " | sed -n 's/^[0-9]*: [^@]*@\\([^:]*\\):.*/\\1/p')",
            f'[ "$p" = {shlex.quote(peer)} ] || ip link set "$p" name {shlex.quote(peer)}',
        ]
    elif add:
        commands.append(_sh("ip", "link", "add", "name", name, "type", add))
    commands.append(_sh("ip", "link", "set", name, "netns", _PID))
    return commands
