"""Valid LinuxKit files load, keep what was written, and dump back the same."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distrokit.config import Container, as_linuxkit, dump_json, dump_yaml, load

MINIMAL = """\
kernel:
  image: linuxkit/kernel:6.6.71
  cmdline: "console=tty0 console=ttyS0 console=ttyAMA0"
init:
  - linuxkit/init:8a7b6cdb89197dc94eb6db69ef9dc90b750db598
  - linuxkit/runc:6062483d748609d505f2bcde4e52ee64a3329f5f
  - linuxkit/containerd:39301e7312f13eedf19bd5d5551af7b37001d435
onboot:
  - name: dhcpcd
    image: linuxkit/dhcpcd:e9e3580f2de00e73e7b316a007186d22fea056ee
    command: ["/sbin/dhcpcd", "--nobackground", "-f", "/dhcpcd.conf", "-1"]
services:
  - name: getty
    image: linuxkit/getty:05eca453695984a69617f1f1f0bcdae7f7032967
    env:
     - INSECURE=true
"""

# Like LinuxKit's examples/linuxkit.yml, plus every key the schema knows.
EVERYTHING = """\
kernel:
  image: linuxkit/kernel:6.6.71
  cmdline: "console=tty0 console=ttyS0"
  binary: bzImage
  tar: none
  ucode: intel-ucode.cpio
init:
  - linuxkit/init:8a7b6cdb
  - linuxkit/runc:6062483d
  - linuxkit/containerd:39301e73
  - linuxkit/ca-certificates:5aaa343474e5ac3ac01f8b917e82efb1063d80ff
volumes:
  - name: certs
    image: alpine:3.20
    readonly: true
    format: filesystem
  - name: layout
    image: alpine:3.20
    format: oci
    platforms: [linux/amd64]
  - name: scratch
onboot:
  - name: sysctl
    image: linuxkit/sysctl:5a374e4bf3e5a7deeacff6571d0f30f7ea8f56db
  - name: dhcpcd
    image: linuxkit/dhcpcd:e9e3580f
    command: ["/sbin/dhcpcd", "--nobackground", "-f", "/dhcpcd.conf", "-1"]
  - name: wg
    image: linuxkit/ip:4ed4b8d8
    net: new
    binds:
      - /etc/wireguard:/etc/wireguard
    runtime:
      cgroups: [systemreserved]
      mounts:
        - type: bind
          source: /var/lib
          destination: /var/lib
          options: [rbind, rshared]
      mkdir: [/var/lib/wg]
      interfaces:
        - name: wg0
          add: wireguard
          createInRoot: true
        - name: veth0
          peer: veth1
      bindNS:
        cgroup: /run/ns/cgroup
        ipc: /run/ns/ipc
        mnt: /run/ns/mnt
        net: /run/netns/wg
        pid: /run/ns/pid
        user: /run/ns/user
        uts: /run/ns/uts
onshutdown:
  - name: shutdown
    image: busybox:latest
    command: ["/bin/echo", "so long and thanks for all the fish"]
services:
  - name: getty
    image: linuxkit/getty:05eca453
    env:
     - INSECURE=true
    devices:
      - path: /dev/console
        type: c
        major: 5
        minor: 1
        mode: "0666"
      - path: all
        type: b
  - name: rngd
    image: linuxkit/rngd:1a18f2149e42a0a1f9ec5d9e2a89ed5a1b6b0ef9
  - name: nginx
    image: nginx:1.19.5-alpine
    capabilities:
     - CAP_NET_BIND_SERVICE
     - CAP_CHOWN
     - CAP_SETUID
     - CAP_SETGID
     - CAP_DAC_OVERRIDE
    binds:
     - /etc/resolv.conf:/etc/resolv.conf
  - name: everything
    image: example/everything:1.0
    capabilities: [CAP_SYS_ADMIN]
    capabilities.add: [CAP_NET_ADMIN]
    ambient: [CAP_NET_RAW]
    mounts:
      - type: cgroup
        options: [rw]
      - destination: /mnt/idmapped
        type: bind
        source: /var/data
        options: [rbind, idmap]
        uidmappings:
          - {hostID: 1000, containerID: 0, size: 1}
        gidmappings:
          - {hostID: 1000, containerID: 0, size: 1}
    binds: [/var:/var]
    binds.add: ["certs:/etc/ssl/certs:ro"]
    tmpfs: [/tmp:size=10m]
    command: [/bin/sh, -c, "exec sleep 1d"]
    env: [HOME=/root]
    cwd: /root
    net: host
    pid: new
    ipc: host
    uts: new
    userns: new
    hostname: box
    readonly: true
    maskedPaths: [/proc/kcore]
    readonlyPaths: [/proc/sys]
    uid: rngd
    gid: 100
    additionalGids: [getty, 10]
    noNewPrivileges: true
    oomScoreAdj: -500
    rootfsPropagation: shared
    cgroupsPath: /everything
    resources:
      devices:
        - {allow: false, access: rwm}
        - {allow: true, type: c, major: 1, minor: 3, access: rw}
      memory:
        limit: 536870912
        reservation: 268435456
        swap: 0
        kernel: 0
        kernelTCP: 0
        swappiness: 10
        disableOOMKiller: false
      cpu:
        shares: 512
        quota: 50000
        period: 100000
        realtimeRuntime: 0
        realtimePeriod: 0
        cpus: "0-1"
        mems: "0"
      pids:
        limit: 100
      blockio:
        weight: 500
        leafWeight: 300
        weightDevice:
          - {major: 8, minor: 0, weight: 500, leafWeight: 300}
        throttleReadBpsDevice: [{major: 8, minor: 0, rate: 1048576}]
        throttleWriteBpsDevice: [{major: 8, minor: 0, rate: 1048576}]
        throttleReadIOPSDevice: [{major: 8, minor: 0, rate: 100}]
        throttleWriteIOPSDevice: [{major: 8, minor: 0, rate: 100}]
      hugepageLimits:
        - {pageSize: 2097152, limit: 0}
      network:
        classID: 1048577
        priorities:
          - {name: eth0, priority: 1}
    sysctl:
      net.ipv4.ip_forward: "1"
    rlimits: ["nofile,1024,unlimited"]
    uidMappings: [{hostID: 100000, containerID: 0, size: 65536}]
    gidMappings: [{hostID: 100000, containerID: 0, size: 65536}]
    annotations:
      org.example.purpose: testing
    runtime:
      namespace: custom
files:
  - path: etc/linuxkit-config
    metadata: yaml
  - path: etc/motd
    contents: |
      Welcome.
      Be nice.
    mode: "0644"
    uid: getty
    gid: 0
  - path: var/empty
    directory: true
    mode: "0755"
  - path: etc/localtime
    symlink: /usr/share/zoneinfo/UTC
  - path: etc/ssh/authorized_keys
    source: ~/.ssh/id_rsa.pub
    optional: true
  - path: etc/empty
    contents: ""
trust:
  org:
    - linuxkit
"""


def write(tmp_path: Path, text: str, name: str = "system.yml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_minimal(tmp_path: Path) -> None:
    system = load([write(tmp_path, MINIMAL)])
    assert system.kernel.image == "linuxkit/kernel:6.6.71"
    assert system.kernel.binary == "kernel" and system.kernel.tar == "kernel.tar"
    assert len(system.init) == 3
    assert system.onboot[0].command == [
        "/sbin/dhcpcd",
        "--nobackground",
        "-f",
        "/dhcpcd.conf",
        "-1",
    ]
    getty = system.services[0]
    assert getty.env == ["INSECURE=true"]
    # only what was written is "set": the label fills in the rest later
    assert getty.model_fields_set == {"name", "image", "env"}
    assert getty.capabilities is None


def test_every_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    system = load([write(tmp_path, EVERYTHING)])
    assert "'trust' is obsolete" in capsys.readouterr().err
    assert system.kernel.tar == "none" and system.kernel.ucode == "intel-ucode.cpio"
    assert [v.name for v in system.volumes] == ["certs", "layout", "scratch"]
    assert system.volumes[1].format == "oci" and system.volumes[2].image == ""
    wg = system.onboot[2]
    assert wg.runtime is not None and wg.runtime.bind_ns is not None
    assert wg.runtime.bind_ns.net == "/run/netns/wg"
    assert wg.runtime.interfaces is not None and wg.runtime.interfaces[0].create_in_root is True
    every = system.services[3]
    assert every.capabilities_add == ["CAP_NET_ADMIN"] and every.binds_add == [
        "certs:/etc/ssl/certs:ro"
    ]
    assert every.uid == "rngd" and every.gid == 100 and every.additional_gids == ["getty", 10]
    assert every.resources is not None and every.resources.blockio is not None
    assert every.resources.blockio.throttle_write_iops_device is not None
    assert every.resources.memory is not None and every.resources.memory.disable_oom_killer is False
    assert every.mounts is not None and every.mounts[1].uidmappings is not None
    assert every.runtime is not None and every.runtime.namespace == "custom"
    assert every.sysctl == {"net.ipv4.ip_forward": "1"}
    written = every.linuxkit()
    assert list(written)[:5] == ["name", "image", "capabilities", "capabilities.add", "ambient"]
    assert written["resources"]["cpu"]["realtimeRuntime"] == 0
    assert written["resources"]["network"]["classID"] == 1048577
    assert system.files[1].contents == "Welcome.\nBe nice.\n"
    assert system.files[5].contents == "" and system.files[0].contents is None
    assert system.files[4].optional is True


def test_positions_are_kept(tmp_path: Path) -> None:
    path = write(tmp_path, EVERYTHING)
    system = load([path])
    assert str(system.where("services", 2, "binds", 0)) == f"{path}:83:8"
    # a key that was not written: its closest written parent
    assert str(system.where("services", 0, "readonly")) == f"{path}:60:5"


@pytest.mark.parametrize("text", [MINIMAL, EVERYTHING])
def test_dump_round_trip(tmp_path: Path, text: str) -> None:
    system = load([write(tmp_path, text)])
    dumped = dump_yaml(system)
    again = load([write(tmp_path, dumped, "dumped.yml")])
    assert as_linuxkit(again) == as_linuxkit(system)
    assert dump_yaml(again) == dumped
    assert json.loads(dump_json(system)) == as_linuxkit(system)
    assert "trust" not in dumped


def test_dump_order_and_style(tmp_path: Path) -> None:
    dumped = dump_yaml(load([write(tmp_path, EVERYTHING)]))
    top = [line.split(":")[0] for line in dumped.splitlines() if line[:1].isalpha()]
    assert top == ["kernel", "init", "onboot", "onshutdown", "services", "files", "volumes"]
    assert "    contents: |\n      Welcome.\n      Be nice.\n" in dumped
    assert "mode: '0644'" in dumped or 'mode: "0644"' in dumped


def test_label_defaults_stay_distinguishable() -> None:
    c = Container.model_validate({"name": "a", "image": "b", "command": [], "readonly": False})
    assert c.model_dump(by_alias=True, exclude_unset=True) == {
        "name": "a",
        "image": "b",
        "command": [],
        "readonly": False,
    }


def test_empty_file_is_an_empty_system(tmp_path: Path) -> None:
    system = load([write(tmp_path, "# nothing yet\n")])
    assert system.services == [] and system.kernel.image == ""
