"""A running test VM: QEMU with its serial console on a pipe, for tests that
watch the console, type into it, reach the guest's ports and run commands.

The argv comes from vm/machine.py (the boot, disks, config ISO); this module
adds what tests need on top: a user-networking NIC with ``restrict=on`` (the
guest reaches nothing outside, only forwarded ports reach it) and a QEMU
monitor socket, through which :meth:`VM.forward` adds port forwards to a
running guest (``hostfwd_add``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from distrokit import proc
from distrokit.log import DistrokitError, debug
from distrokit.testing import reaper
from distrokit.vm.accel import resolve_accel
from distrokit.vm.machine import (
    DataDisk,
    Machine,
    Network,
    create_disks,
    data_iso,
    find_boot,
    machine_argv,
)
from distrokit.vm.qemu import QEMU, ConsoleWatcher

DEFAULT_TIMEOUT = 120.0  # seconds: a TCG boot of a small system takes 15-30
_SETTLE = 0.3  # seconds of console silence that end a match at the console's end


class VMError(DistrokitError):
    """The guest did not do what the test waited for."""


class VMTimeout(VMError):
    """What the test waited for did not come in time."""


@dataclass(frozen=True)
class RunResult:
    returncode: int
    output: str

    def check(self) -> RunResult:
        if self.returncode != 0:
            raise VMError(f"command failed (exit {self.returncode}): {self.output[-500:]}")
        return self


@dataclass(frozen=True)
class SSH:
    """How :meth:`VM.run` logs in with ssh: a private key file, a user, the
    guest's port (forwarded on first use)."""

    key: Path
    user: str = "root"
    port: int = 22


class VM:
    """Boot ``artifact`` (anything ``distrokit run qemu`` boots) and watch it.

    ``state`` is this VM's own directory: the console log goes to
    ``state/console.log`` unless ``console_log`` says otherwise, and the
    config ISO is made there. ``disks`` are data disks (``DataDisk`` or
    LinuxKit's ``FILE[,size=S][,format=F]``), created when missing; ``data``
    is given to the guest on a config ISO; ``cmdline`` is appended to the
    kernel command line; ``forwards`` are guest TCP ports forwarded from
    the start (see :meth:`forward`).
    """

    def __init__(
        self,
        artifact: str | Path,
        *,
        state: Path,
        mem_mb: int = 1024,
        cpus: int = 1,
        accel: str = "auto",
        disks: tuple[DataDisk | str, ...] | list[DataDisk | str] = (),
        data: bytes | str | None = None,
        cmdline: str = "",
        forwards: tuple[int, ...] | list[int] = (),
        console_log: Path | None = None,
        echo: BinaryIO | None = None,
        ssh: SSH | None = None,
    ) -> None:
        self.artifact = str(artifact)
        self.state = Path(state)
        self.state.mkdir(parents=True, exist_ok=True)
        self.console_log = console_log or self.state / "console.log"
        self.ssh = ssh
        self.forwards: dict[tuple[str, int], int] = {}
        self._echo = echo
        self._buffer = ""  # the console so far, without carriage returns
        self._cursor = 0  # where the next expect() starts looking
        self._cond = threading.Condition()
        self._watcher = ConsoleWatcher()
        self._eof = False
        self._shell_ready = False
        self._tags = itertools.count(1)
        # A unix socket path must be short: not under pytest's long tmp paths.
        self._sockdir = Path(tempfile.mkdtemp(prefix="dkvm-"))
        self._monitor = self._sockdir / "monitor.sock"
        self._process: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._log: BinaryIO | None = None
        try:
            self._start(mem_mb, cpus, accel, disks, data, cmdline, forwards)
        except BaseException:
            self.close()
            raise

    # -- starting and stopping ---------------------------------------------

    def _start(self, mem_mb: int, cpus: int, accel: str,
               disks: tuple[DataDisk | str, ...] | list[DataDisk | str],
               data: bytes | str | None, cmdline: str, forwards: tuple[int, ...] | list[int],
               ) -> None:
        qemu = proc.require(QEMU)
        boot = find_boot(self.artifact)
        if cmdline:
            boot = dataclasses.replace(boot, cmdline=f"{boot.cmdline} {cmdline}".strip())
        data_disks = [d if isinstance(d, DataDisk) else DataDisk.parse(d) for d in disks]
        m = Machine(boot=boot, mem_mb=mem_mb, cpus=cpus, disks=data_disks,
                    network=Network("none"))
        create_disks(m.disks)
        argv = machine_argv(qemu, m, accel=resolve_accel(accel, qemu, boot.kernel),
                            interactive=False)
        argv = self._with_test_network(argv, forwards)
        if data is not None:
            iso = data_iso(self.state / "data.iso",
                           data.encode() if isinstance(data, str) else data)
            # A CD-ROM on virtio-scsi (/dev/sr0): q35's IDE buses are AHCI,
            # which Debian's cloud kernel (packages/kernel) has no driver for.
            argv += ["-device", "virtio-scsi-pci,id=scsi0",
                     "-drive", f"if=none,id=data,media=cdrom,readonly=on,format=raw,file={iso}",
                     "-device", "scsi-cd,bus=scsi0.0,drive=data"]
        argv += ["-monitor", f"unix:{self._monitor},server=on,wait=off"]
        # The guest dies with us even if we are killed (pdeathsig): setpriv
        # sets it and execs QEMU, no Python runs in the child.
        setpriv = shutil.which("setpriv")
        if setpriv:
            argv = [setpriv, "--pdeathsig", "KILL", "--", *argv]
        debug("+ " + shlex.join(argv))
        self._log = self.console_log.open("wb")
        # A session of its own: a Ctrl-C reaches us, and we stop QEMU.
        self._process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        reaper.register(self)
        self._reader = threading.Thread(target=self._read, name=f"console {self.artifact}",
                                        daemon=True)
        self._reader.start()

    def _with_test_network(self, argv: list[str], forwards: tuple[int, ...] | list[int],
                           ) -> list[str]:
        """Replace machine_argv's ``-nic none`` with user networking that
        reaches nothing but the forwarded ports."""
        rules = ""
        for guest in forwards:
            host = free_port()
            self.forwards[("tcp", guest)] = host
            rules += f",hostfwd=tcp:127.0.0.1:{host}-:{guest}"
        nic = f"user,id=net0,model=virtio-net-pci,restrict=on{rules}"
        for i in range(len(argv) - 1):
            if argv[i] == "-nic" and argv[i + 1] == "none":
                return [*argv[:i], "-nic", nic, *argv[i + 2:]]
        return [*argv, "-nic", nic]

    def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        fd = self._process.stdout.fileno()
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:
                data = b""
            if self._log is not None and data:
                self._log.write(data)
                self._log.flush()
            if self._echo is not None and data:
                self._echo.write(data)
                self._echo.flush()
            with self._cond:
                if data:
                    self._watcher.feed(data)
                    self._buffer += data.decode(errors="replace").replace("\r", "")
                else:
                    self._eof = True
                self._cond.notify_all()
            if not data:
                return

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def close(self) -> None:
        """Stop QEMU (if it still runs) and release everything; idempotent."""
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            if self._reader is not None:
                self._reader.join(5)
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
            reaper.unregister(self)
        if self._log is not None:
            self._log.close()
            self._log = None
        shutil.rmtree(self._sockdir, ignore_errors=True)

    kill = close

    def __enter__(self) -> VM:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- the console ---------------------------------------------------------

    @property
    def console(self) -> str:
        """Everything the guest printed so far (carriage returns removed)."""
        with self._cond:
            return self._buffer

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.console.splitlines()[-lines:])

    def expect(self, pattern: str | re.Pattern[str], timeout: float = DEFAULT_TIMEOUT,
               ) -> re.Match[str]:
        """Wait until ``pattern`` (a regex, multiline) appears on the console
        after the previous match; return the match. Fails at once if the
        guest panics or QEMU exits, else after ``timeout`` seconds."""
        regex = pattern if isinstance(pattern, re.Pattern) else re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                match = regex.search(self._buffer, self._cursor)
                if match is not None and match.end() == len(self._buffer) and not self._eof:
                    # The text may still be arriving ("\w+" on half a word):
                    # a match that ends where the console does is taken once
                    # the console has been quiet for a moment.
                    size = len(self._buffer)
                    self._cond.wait(_SETTLE)
                    if len(self._buffer) != size:
                        continue
                if match is not None:
                    self._cursor = match.end()
                    return match
                if self._watcher.panic is not None:
                    self._cond.wait(1.0)  # let the trace arrive for the log
                    raise VMError(f"kernel panic while waiting for {regex.pattern!r}: "
                                  f"{self._watcher.panic}")
                if self._eof:
                    raise VMError(f"the guest stopped before {regex.pattern!r} appeared "
                                  f"on the console{self._exit_note()}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise VMTimeout(f"{regex.pattern!r} did not appear on the console "
                                  f"within {timeout:.1f} s")
                self._cond.wait(left)

    def _exit_note(self) -> str:
        process = self._process
        if process is None:
            return ""
        try:
            rc = process.wait(2)
        except subprocess.TimeoutExpired:
            return ""
        return f" (qemu exit {rc})"

    def send(self, text: str) -> None:
        """Type ``text`` on the serial console (add "\\n" for Enter)."""
        if self._process is None or self._process.stdin is None or not self.running:
            raise VMError("the guest is not running")
        try:
            self._process.stdin.write(text.encode())
            self._process.stdin.flush()
        except BrokenPipeError:
            raise VMError("the guest is not running") from None

    def sendline(self, text: str = "") -> None:
        self.send(text + "\n")

    def wait_poweroff(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Wait until the guest powers off (QEMU exits 0)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._eof and self._watcher.panic is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise VMTimeout(f"the guest did not power off within {timeout:.1f} s")
                self._cond.wait(left)
        if self._watcher.panic is not None:
            raise VMError(f"kernel panic: {self._watcher.panic}")
        assert self._process is not None
        rc = self._process.wait()
        if rc != 0:
            raise VMError(f"qemu failed (exit {rc}): {self.tail(3)}")

    # -- the network ---------------------------------------------------------

    def forward(self, guest_port: int, proto: str = "tcp") -> int:
        """A host port on 127.0.0.1 forwarded to ``guest_port`` in the guest
        (the same one on every call for the same port)."""
        key = (proto, guest_port)
        if key in self.forwards:
            return self.forwards[key]
        for _ in range(5):
            host = free_port(proto)
            reply = self.monitor(f"hostfwd_add net0 {proto}:127.0.0.1:{host}-:{guest_port}")
            if not reply.strip():
                self.forwards[key] = host
                return host
            debug(f"hostfwd_add: {reply.strip()}")  # taken meanwhile: another port
        raise VMError(f"cannot forward a host port to guest port {guest_port}: {reply.strip()}")

    def monitor(self, command: str, timeout: float = 10.0) -> str:
        """Run a QEMU monitor (HMP) command; return what it printed."""
        deadline = time.monotonic() + timeout
        while not self._monitor.exists():
            if time.monotonic() > deadline or not self.running:
                raise VMError("the QEMU monitor is not there")
            time.sleep(0.05)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(self._monitor))
            _read_until(sock, b"(qemu) ")
            sock.sendall(command.encode() + b"\n")
            reply = _read_until(sock, b"(qemu) ").decode(errors="replace")
        # The monitor echoes the command (with terminal escapes) on the first line.
        lines = reply.replace("\r", "").split("\n")
        return "\n".join(lines[1:-1])

    # -- commands ------------------------------------------------------------

    def run(self, command: str, timeout: float = DEFAULT_TIMEOUT) -> RunResult:
        """Run a shell command in the guest: with ssh when the VM was given
        ``ssh=``, else on the serial console's shell (which must be a logged
        in root shell: getty with INSECURE=true). Returns its exit code and
        output (stdout and stderr together)."""
        if self.ssh is not None:
            return self._run_ssh(command, timeout)
        deadline = time.monotonic() + timeout
        self._wait_shell(timeout)
        tag = self._tag()
        # The markers are printed from pieces so the echo of the typed line
        # never matches them.
        # One line: a second one would be read after a prompt, into the output.
        self.sendline(f"printf '\\n%s%s\\n' {tag} :begin; {command}; "
                      f"printf '\\n%s%s%s\\n' {tag} :end: \"$?\"")
        left = max(1.0, deadline - time.monotonic())
        match = self.expect(re.compile(re.escape(tag) + r":begin\n(.*?)\n?" + re.escape(tag)
                                       + r":end:(\d+)\n", re.S), left)
        return RunResult(int(match.group(2)), match.group(1))

    def _tag(self) -> str:
        return f"DK{next(self._tags)}{secrets.token_hex(3)}"

    def _wait_shell(self, timeout: float) -> None:
        """Until a shell answers on the console (it may still be starting)."""
        if self._shell_ready:
            return
        deadline = time.monotonic() + timeout
        while True:
            tag = self._tag()
            self.sendline(f"printf '%s%s\\n' {tag} :ready")
            left = deadline - time.monotonic()
            try:
                match = self.expect(re.compile(re.escape(tag) + r":ready$|^\S* ?login: *$"
                                               r"|Password: *$", re.M), min(5.0, max(left, 0.1)))
            except VMError:
                if not self.running or time.monotonic() >= deadline:
                    raise VMError(f"no shell answered on the serial console within "
                                  f"{timeout:g} s") from None
                continue
            if match.group(0).startswith("Password"):
                raise VMError("the console asks for a password: vm.run needs a passwordless "
                              "root shell (getty with INSECURE=true) or ssh=")
            if "login" in match.group(0):
                self.sendline("root")
                continue
            self._shell_ready = True
            return

    def _run_ssh(self, command: str, timeout: float) -> RunResult:
        assert self.ssh is not None
        port = self.forward(self.ssh.port)
        argv = [proc.require("ssh", "openssh-client"), *ssh_options(self.ssh.key, port),
                f"{self.ssh.user}@127.0.0.1", command]
        debug("+ " + shlex.join(argv))
        try:
            result = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise VMError(f"ssh command did not finish within {timeout:.1f} s") from None
        return RunResult(result.returncode, result.stdout.decode(errors="replace"))

    def wait_ssh(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Until ssh logs in (sshd may still be starting)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            result = self._run_ssh("true", max(left, 1.0))
            if result.returncode == 0:
                return
            if left <= 0 or not self.running:
                raise VMError(f"ssh did not log in within {timeout:g} s: "
                              f"{result.output.strip()[-300:]}")
            time.sleep(2)


def ssh_options(key: Path, port: int) -> list[str]:
    """ssh options for a throwaway guest: no host key checks, no prompts."""
    return ["-i", str(key), "-p", str(port), "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=20", "-o", "IdentitiesOnly=yes"]


def free_port(proto: str = "tcp") -> int:
    """A port on 127.0.0.1 that nobody listens on right now."""
    kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _read_until(sock: socket.socket, end: bytes) -> bytes:
    data = b""
    while not data.endswith(end):
        chunk = sock.recv(4096)
        if not chunk:
            raise VMError("the QEMU monitor closed")
        data += chunk
    return data
