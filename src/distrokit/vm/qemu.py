"""Booting a kernel+initrd in QEMU with the serial console on our terminal.

Non-interactive runs (tests, CI) pipe the guest's serial console through
:class:`ConsoleWatcher`, which streams it to the caller and spots a kernel
panic: a panicked kernel hangs forever unless told otherwise, so we kill QEMU
ourselves. A guest that powers off makes QEMU exit 0 (``-no-reboot`` turns a
reboot into an exit too). Interactive runs hand the terminal to QEMU
(``-serial mon:stdio``: Ctrl-A X quits, Ctrl-A C is the monitor).
"""

from __future__ import annotations

import contextlib
import os
import selectors
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import BinaryIO

from distrokit import proc
from distrokit.log import DistrokitError, debug, info
from distrokit.vm.accel import resolve_accel
from distrokit.vm.machine import Machine, create_disks, data_iso, machine_argv, private_vars
from distrokit.vm.machine import with_serial_console as with_serial_console

QEMU = "qemu-system-x86_64"
PANIC = b"Kernel panic - not syncing"
PANIC_END = b"---[ end Kernel panic"
PANIC_GRACE = 2.0  # seconds to let the panic's trace reach the console before the kill
_MAX_LINE = 64 * 1024


def find_kernel_artifacts(path_prefix: str) -> tuple[Path, Path, str]:
    """The kernel, initrd and command line of a kernel+initrd output, named
    as ``D/N`` (or by one of its files, ``D/N-kernel``)."""
    prefix = path_prefix
    for suffix in ("-kernel", "-initrd.img", "-cmdline"):
        if prefix.endswith(suffix):
            prefix = prefix[: -len(suffix)]
            break
    kernel, initrd, cmdline = (Path(prefix + s) for s in ("-kernel", "-initrd.img", "-cmdline"))
    for path in (kernel, initrd):
        if not path.is_file():
            raise DistrokitError(f"{path} not found",
                                 "give the prefix of a kernel+initrd output, e.g. out/NAME")
    text = cmdline.read_text().strip() if cmdline.is_file() else ""
    return kernel, initrd, text


def qemu_argv(
    qemu: str, kernel: Path, initrd: Path, cmdline: str, *, mem_mb: int, cpus: int,
    accel: str, interactive: bool,
) -> list[str]:
    # q35 boots at least as fast as pc under TCG here, and is the modern PCIe machine.
    return [
        qemu, "-accel", accel, "-machine", "q35",
        "-nographic", "-nodefaults", "-no-reboot",
        "-serial", "mon:stdio" if interactive else "stdio",
        "-m", str(mem_mb), "-smp", str(cpus),
        "-kernel", str(kernel), "-initrd", str(initrd),
        "-append", with_serial_console(cmdline),
        "-device", "virtio-rng-pci",
        "-nic", "user,model=virtio-net-pci",
    ]


# What the firmware says when it has tried every device and found nothing to
# boot; it would then wait forever (or until --timeout). Per-device messages
# like SeaBIOS's "Boot failed: not a bootable disk" are not final.
NO_BOOT = (
    (b"No bootable device.", "the BIOS found nothing to boot (an EFI image needs --uefi)"),
    (b"No bootable option or device was found",
     "the UEFI firmware found nothing to boot (a BIOS-only image boots without --uefi)"),
)


class ConsoleWatcher:
    """Reads the guest's serial output as it arrives and remembers the first
    kernel panic line (and whether the panic's trace is complete), or the
    firmware saying it found nothing to boot."""

    def __init__(self) -> None:
        self.no_boot: str | None = None
        self.panic: str | None = None
        self.panic_at = 0.0  # time.monotonic() when the panic line arrived
        self.panic_complete = False
        self._partial = b""

    @property
    def at_line_start(self) -> bool:
        """Whether the console's output so far ends with a newline (or is empty)."""
        return not self._partial

    def feed(self, data: bytes) -> None:
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()[-_MAX_LINE:]
        for line in lines:
            self._line(line)

    def _line(self, line: bytes) -> None:
        for marker, reason in NO_BOOT:
            if marker in line and self.no_boot is None:
                self.no_boot = reason
        if self.panic is None:
            at = line.find(PANIC)
            if at >= 0:
                text = line[at:].decode(errors="replace").strip()
                self.panic = text.split(": ", 1)[1] if ": " in text else text
                self.panic_at = time.monotonic()
        elif PANIC_END in line:
            self.panic_complete = True


def run_qemu(
    kernel: Path,
    initrd: Path,
    cmdline: str,
    *,
    mem_mb: int = 1024,
    cpus: int = 1,
    timeout: float | None = None,
    accel: str = "auto",
    console_out: BinaryIO | None = None,
    interactive: bool = False,
) -> int:
    """Boot the kernel and initrd; return 0 once the guest has powered off.

    A kernel panic, a guest still running after ``timeout`` seconds, or QEMU
    failing raise a DistrokitError (QEMU is killed first). The guest's console
    goes to ``console_out`` (standard output by default). ``interactive`` only
    takes effect when stdin is a terminal; then QEMU owns the terminal.
    """
    qemu = proc.require(QEMU)
    for path in (kernel, initrd):
        if not path.is_file():
            raise DistrokitError(f"{path} not found")
    interactive = interactive and sys.stdin.isatty()
    argv = qemu_argv(qemu, kernel, initrd, cmdline, mem_mb=mem_mb, cpus=cpus,
                     accel=resolve_accel(accel, qemu, kernel), interactive=interactive)
    debug("+ " + shlex.join(argv))
    if interactive:
        return _run_interactive(argv, timeout)
    return supervise(argv, console_out or sys.stdout.buffer, timeout)


def _run_interactive(argv: list[str], timeout: float | None) -> int:
    # QEMU puts the terminal into raw mode itself and restores it on exit.
    qemu = subprocess.Popen(argv)
    try:
        try:
            rc = qemu.wait(timeout)
        except subprocess.TimeoutExpired:
            raise DistrokitError(f"guest did not power off within {timeout:g} s") from None
    finally:
        _reap(qemu)
    if rc != 0:
        raise DistrokitError(f"qemu failed (exit {rc})")
    return 0


def supervise(argv: list[str], console_out: BinaryIO, timeout: float | None) -> int:
    """Run a QEMU-like command, stream its stdout to ``console_out`` while
    watching it, and turn panics, timeouts and failures into errors."""
    watcher = ConsoleWatcher()
    stderr = bytearray()
    # A session of its own: Ctrl-C reaches only us, and we stop QEMU cleanly.
    qemu = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        ended = _pump(qemu, console_out, watcher, stderr, timeout)
        if not watcher.at_line_start:  # the guest's last line: end it before ours
            console_out.write(b"\n")
            console_out.flush()
        if watcher.no_boot is not None:
            raise DistrokitError(f"the guest did not boot: {watcher.no_boot}")
        if watcher.panic is not None:
            raise DistrokitError(f"kernel panic: {watcher.panic}")
        if not ended:
            raise DistrokitError(f"guest did not power off within {timeout:g} s")
        rc = qemu.wait()
        lines = [line for line in stderr.decode(errors="replace").splitlines() if line.strip()]
        for line in lines:
            debug(f"qemu: {line}")
        if rc != 0:
            last = lines[-1].strip() if lines else "no output"
            raise DistrokitError(f"qemu failed (exit {rc}): {last}")
        return 0
    finally:
        _reap(qemu)


def _pump(
    qemu: subprocess.Popen[bytes], console_out: BinaryIO, watcher: ConsoleWatcher,
    stderr: bytearray, timeout: float | None,
) -> bool:
    """Copy QEMU's output until it closes it (True) or we stop waiting (False):
    on the timeout, or once a panic's trace is complete or its grace is over."""
    assert qemu.stdout is not None and qemu.stderr is not None
    deadline = time.monotonic() + timeout if timeout is not None else None
    with selectors.DefaultSelector() as sel:
        sel.register(qemu.stdout, selectors.EVENT_READ)
        sel.register(qemu.stderr, selectors.EVENT_READ)
        while sel.get_map():
            if watcher.panic_complete or watcher.no_boot:
                return False
            limit = deadline
            if watcher.panic is not None:
                grace_end = watcher.panic_at + PANIC_GRACE
                limit = grace_end if limit is None else min(limit, grace_end)
            wait = None if limit is None else limit - time.monotonic()
            if wait is not None and wait <= 0:
                return False
            for key, _ in sel.select(wait):
                data = os.read(key.fd, 65536)
                if not data:
                    sel.unregister(key.fileobj)
                elif key.fileobj is qemu.stdout:
                    console_out.write(data)
                    console_out.flush()
                    watcher.feed(data)
                else:
                    stderr += data
                    del stderr[:-_MAX_LINE]
    return True


def _reap(qemu: subprocess.Popen[bytes]) -> None:
    """Kill QEMU if it still runs and wait for it, whatever happened."""
    if qemu.poll() is None:
        qemu.kill()
    qemu.wait()
    for stream in (qemu.stdout, qemu.stderr):
        if stream is not None:
            stream.close()


class _Tee:
    """The console to the terminal and to the state directory's log."""

    def __init__(self, *outs: BinaryIO) -> None:
        self.outs = outs

    def write(self, data: bytes) -> int:
        for out in self.outs:
            out.write(data)
        return len(data)

    def flush(self) -> None:
        for out in self.outs:
            out.flush()


def run_machine(
    m: Machine,
    *,
    timeout: float | None = None,
    accel: str = "auto",
    data: bytes | None = None,
    console_out: BinaryIO | None = None,
    interactive: bool = False,
) -> int:
    """Boot any kind of output (see machine.py); 0 once the guest powered
    off, or at once for a detached machine (its pid is in STATE/qemu.pid)."""
    qemu = proc.require(QEMU)
    if m.detached and m.state is None:
        raise DistrokitError("--detached needs --state DIR")
    with contextlib.ExitStack() as stack:
        if m.state is not None:
            m.state.mkdir(parents=True, exist_ok=True)
            scratch = m.state
        else:
            scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="distrokit-vm-")))
        vars_file = private_vars(scratch) if m.uefi else None
        create_disks(m.disks)
        if data is not None:
            m.data_iso = data_iso(scratch / "data.iso", data)
        interactive = interactive and sys.stdin.isatty() and not m.detached
        argv = machine_argv(qemu, m, accel=resolve_accel(accel, qemu, m.boot.kernel),
                            interactive=interactive, vars_file=vars_file)
        debug("+ " + shlex.join(argv))
        if m.detached:
            proc.run(argv)
            info(f"started; console in {m.state / 'console.log'}, pid in "  # type: ignore[operator]
                 f"{m.state / 'qemu.pid'}")  # type: ignore[operator]
            return 0
        if interactive:
            return _run_interactive(argv, timeout)
        out: BinaryIO = console_out or sys.stdout.buffer
        if m.state is not None:
            log = stack.enter_context((m.state / "console.log").open("wb"))
            out = _Tee(out, log)  # type: ignore[assignment]
        return supervise(argv, out, timeout)
