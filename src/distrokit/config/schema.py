"""The system description as LinuxKit's schema defines it (moby/schema.go).

Every model is strict (no "5" for 5, no 1 for true), forbids unknown keys and
reads LinuxKit's key names (camelCase, ``capabilities.add``). Optional keys
default to None, and ``model_fields_set`` / ``model_dump(by_alias=True,
exclude_unset=True)`` give back exactly the keys the user wrote: a key written
in the YAML replaces the image label's value, a key left out keeps it.
Explicit ``null`` is refused, as LinuxKit's JSON schema does.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, PrivateAttr, field_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from .problems import Pos
from .yamlpos import Where


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, alias_generator=to_camel)

    @field_validator("*", mode="before")
    @classmethod
    def _no_null(cls, value: Any) -> Any:
        if value is None:
            raise PydanticCustomError("null", "a value is needed")
        return value


def _int_or_str(value: Any) -> int | str:
    # bool is an int in Python but not in YAML/JSON.
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise PydanticCustomError("int_or_str", "expected an integer or a string")


IntOrStr = Annotated[int | str, PlainValidator(_int_or_str, json_schema_input_type=int | str)]
"""A uid/gid: a number, or the name of a container (its allocated id)."""


class IDMapping(Strict):
    host_id: int | None = Field(None, alias="hostID")
    container_id: int | None = Field(None, alias="containerID")
    size: int | None = None


class Mount(Strict):
    destination: str | None = None
    type: str | None = None
    source: str | None = None
    options: list[str] | None = None
    uidmappings: list[IDMapping] | None = Field(None, alias="uidmappings")
    gidmappings: list[IDMapping] | None = Field(None, alias="gidmappings")


class Device(Strict):
    path: str | None = None
    type: str | None = None
    major: int | None = None
    minor: int | None = None
    mode: str | None = None


class DeviceCgroup(Strict):
    allow: bool | None = None
    type: str | None = None
    major: int | None = None
    minor: int | None = None
    access: str | None = None


class Memory(Strict):
    limit: int | None = None
    reservation: int | None = None
    swap: int | None = None
    kernel: int | None = None
    kernel_tcp: int | None = Field(None, alias="kernelTCP")
    swappiness: int | None = None
    disable_oom_killer: bool | None = Field(None, alias="disableOOMKiller")


class CPU(Strict):
    shares: int | None = None
    quota: int | None = None
    period: int | None = None
    realtime_runtime: int | None = None
    realtime_period: int | None = None
    cpus: str | None = None
    mems: str | None = None


class Pids(Strict):
    limit: int | None = None


class WeightDevice(Strict):
    major: int | None = None
    minor: int | None = None
    weight: int | None = None
    leaf_weight: int | None = None


class ThrottleDevice(Strict):
    major: int | None = None
    minor: int | None = None
    rate: int | None = None


class BlockIO(Strict):
    weight: int | None = None
    leaf_weight: int | None = None
    weight_device: list[WeightDevice] | None = None
    throttle_read_bps_device: list[ThrottleDevice] | None = None
    throttle_write_bps_device: list[ThrottleDevice] | None = None
    throttle_read_iops_device: list[ThrottleDevice] | None = Field(
        None, alias="throttleReadIOPSDevice"
    )
    throttle_write_iops_device: list[ThrottleDevice] | None = Field(
        None, alias="throttleWriteIOPSDevice"
    )


class HugepageLimit(Strict):
    page_size: int | None = None
    limit: int | None = None


class InterfacePriority(Strict):
    name: str | None = None
    priority: int | None = None


class Network(Strict):
    class_id: int | None = Field(None, alias="classID")
    priorities: list[InterfacePriority] | None = None


class Resources(Strict):
    """OCI LinuxResources, as far as LinuxKit's schema lets them through."""

    devices: list[DeviceCgroup] | None = None
    memory: Memory | None = None
    cpu: CPU | None = None
    pids: Pids | None = None
    blockio: BlockIO | None = Field(None, alias="blockio")
    hugepage_limits: list[HugepageLimit] | None = None
    network: Network | None = None


class Interface(Strict):
    name: str | None = None
    add: str | None = None
    peer: str | None = None
    create_in_root: bool | None = None


class BindNS(Strict):
    """Paths where the container's namespaces are bound, for others to join."""

    cgroup: str | None = None
    ipc: str | None = None
    mnt: str | None = None
    net: str | None = None
    pid: str | None = None
    user: str | None = None
    uts: str | None = None


class Runtime(Strict):
    """Actions taken when the container is started, not part of its OCI spec."""

    cgroups: list[str] | None = None
    mounts: list[Mount] | None = None
    mkdir: list[str] | None = None
    interfaces: list[Interface] | None = None
    bind_ns: BindNS | None = Field(None, alias="bindNS")
    namespace: str | None = None


class ImageConfig(Strict):
    """What an ``org.mobyproject.config`` image label may set: a container
    without name and image. Fields are in LinuxKit's order (for dumping)."""

    capabilities: list[str] | None = None
    capabilities_add: list[str] | None = Field(None, alias="capabilities.add")
    ambient: list[str] | None = None
    mounts: list[Mount] | None = None
    binds: list[str] | None = None
    binds_add: list[str] | None = Field(None, alias="binds.add")
    devices: list[Device] | None = None
    tmpfs: list[str] | None = None
    command: list[str] | None = None
    env: list[str] | None = None
    cwd: str | None = None
    net: str | None = None
    pid: str | None = None
    ipc: str | None = None
    uts: str | None = None
    userns: str | None = None
    hostname: str | None = None
    readonly: bool | None = None
    masked_paths: list[str] | None = None
    readonly_paths: list[str] | None = None
    uid: IntOrStr | None = None
    gid: IntOrStr | None = None
    additional_gids: list[IntOrStr] | None = None
    no_new_privileges: bool | None = None
    oom_score_adj: int | None = None
    rootfs_propagation: str | None = None
    cgroups_path: str | None = None
    resources: Resources | None = None
    sysctl: dict[str, str] | None = None
    rlimits: list[str] | None = None
    uid_mappings: list[IDMapping] | None = None
    gid_mappings: list[IDMapping] | None = None
    annotations: dict[str, str] | None = None
    runtime: Runtime | None = None


class Container(ImageConfig):
    """One entry of onboot, onshutdown or services."""

    name: str
    image: str

    def linuxkit(self) -> dict[str, Any]:
        """The keys the user wrote, LinuxKit-named, name and image first."""
        written = self.model_dump(by_alias=True, exclude_unset=True)
        return {"name": self.name, "image": self.image, **written}


class File(Strict):
    path: str
    directory: bool = False
    symlink: str = ""
    contents: str | None = None  # "" is an empty file; None is "not given"
    source: str = ""
    metadata: str = ""
    optional: bool = False
    mode: str = ""
    uid: IntOrStr | None = None
    gid: IntOrStr | None = None


class Volume(Strict):
    name: str
    image: str = ""
    readonly: bool = False
    format: Literal["filesystem", "oci"] | None = None
    platforms: list[str] | None = None


class Kernel(Strict):
    image: str = ""
    cmdline: str = ""
    binary: str = "kernel"
    tar: str = "kernel.tar"  # "" or "none": the kernel image has no modules tar
    ucode: str = ""


class Trust(Strict):
    """Obsolete (Notary was dropped from LinuxKit in 2021): accepted and ignored."""

    image: list[str] | None = None
    org: list[str] | None = None


class System(Strict):
    """A whole system description (one file, or several merged)."""

    kernel: Kernel = Field(default_factory=Kernel)
    init: list[str] = Field(default_factory=list)
    onboot: list[Container] = Field(default_factory=list)
    onshutdown: list[Container] = Field(default_factory=list)
    services: list[Container] = Field(default_factory=list)
    files: list[File] = Field(default_factory=list)
    volumes: list[Volume] = Field(default_factory=list)
    trust: Trust | None = Field(None, exclude=True)

    # Where each part was written, keyed by its path in this (merged) system.
    _where: Where = PrivateAttr(default_factory=Where)

    def where(self, *loc: str | int) -> Pos | None:
        """Where ``loc`` (e.g. ``"services", 1, "binds", 0``) was written, or its
        closest written parent; None for systems not read from YAML. Later
        stages use it to point their errors at the line."""
        return self._where.value(loc)

    def volume(self, name: str) -> Volume | None:
        return next((v for v in self.volumes if v.name == name), None)

    def containers(self) -> list[tuple[str, int, Container]]:
        """Every container with its section and index, in build order."""
        return [
            (section, i, c)
            for section in ("onboot", "onshutdown", "services")
            for i, c in enumerate(getattr(self, section))
        ]
