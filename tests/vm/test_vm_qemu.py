"""The QEMU runner without QEMU: argv, the console watcher, and supervision of
fake QEMU scripts that power off, panic, hang or fail."""

from __future__ import annotations

import io
import os
import shutil
import stat
import time
from pathlib import Path

import pytest

from distrokit.log import DistrokitError
from distrokit.vm import accel, qemu
from distrokit.vm.qemu import (
    ConsoleWatcher,
    find_kernel_artifacts,
    qemu_argv,
    run_qemu,
    supervise,
    with_serial_console,
)


def script(tmp_path: Path, body: str, name: str = "fake-qemu") -> str:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


# -- argv ---------------------------------------------------------------------

def test_argv() -> None:
    argv = qemu_argv("qemu", Path("k"), Path("i"), "quiet", mem_mb=512, cpus=2, accel="tcg",
                     interactive=False)
    assert argv[0] == "qemu"
    joined = " ".join(argv)
    for part in ("-accel tcg", "-nographic", "-nodefaults", "-no-reboot", "-serial stdio",
                 "-m 512", "-smp 2", "-kernel k", "-initrd i", "-device virtio-rng-pci",
                 "-nic user,model=virtio-net-pci", "-machine q35"):
        assert part in joined
    assert argv[argv.index("-append") + 1] == "quiet console=ttyS0"


def test_interactive_argv_muxes_the_monitor() -> None:
    argv = qemu_argv("qemu", Path("k"), Path("i"), "", mem_mb=1, cpus=1, accel="kvm",
                     interactive=True)
    assert argv[argv.index("-serial") + 1] == "mon:stdio"


@pytest.mark.parametrize(("given", "expected"), [
    ("", "console=ttyS0"),
    ("console=tty0", "console=tty0 console=ttyS0"),
    ("console=ttyS0,115200 quiet", "console=ttyS0,115200 quiet"),
    ("console=tty0 console=ttyS0 console=ttyAMA0", "console=tty0 console=ttyS0 console=ttyAMA0"),
])
def test_serial_console(given: str, expected: str) -> None:
    assert with_serial_console(given) == expected


# -- artifacts ----------------------------------------------------------------

def test_find_kernel_artifacts(tmp_path: Path) -> None:
    for suffix, text in (("-kernel", "K"), ("-initrd.img", "I"), ("-cmdline", "quiet\n")):
        (tmp_path / f"box{suffix}").write_text(text)
    expected = (tmp_path / "box-kernel", tmp_path / "box-initrd.img", "quiet")
    assert find_kernel_artifacts(str(tmp_path / "box")) == expected
    assert find_kernel_artifacts(str(tmp_path / "box-kernel")) == expected
    with pytest.raises(DistrokitError, match="other-kernel not found"):
        find_kernel_artifacts(str(tmp_path / "other"))


# -- console watcher ----------------------------------------------------------

def test_watcher_finds_a_panic_split_across_reads() -> None:
    w = ConsoleWatcher()
    w.feed(b"[    1.0] Run /init\r\n[    2.3] Kernel pa")
    assert w.panic is None
    w.feed(b"nic - not syncing: Attempted to kill init! exitcode=0x00000100\r\n[ ")
    assert w.panic == "Attempted to kill init! exitcode=0x00000100"
    assert not w.panic_complete
    w.feed(b"   2.4] ---[ end Kernel panic - not syncing: Attempted ... ]---\r\n")
    assert w.panic_complete


def test_watcher_ignores_ordinary_output() -> None:
    w = ConsoleWatcher()
    w.feed(b"no panic here\n" * 100 + b"x" * 200_000)
    assert w.panic is None


# -- supervision of fake QEMUs ------------------------------------------------

def test_clean_poweroff_streams_the_console(tmp_path: Path) -> None:
    fake = script(tmp_path, "echo booting; echo MARKER; echo 'warning: noise' >&2; exit 0\n")
    out = io.BytesIO()
    assert supervise([fake], out, timeout=10) == 0
    assert out.getvalue() == b"booting\nMARKER\n"


def test_panic_is_an_error_and_qemu_is_killed(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(qemu, "PANIC_GRACE", 0.3)
    fake = script(tmp_path, "echo '[ 1.2] Kernel panic - not syncing: VFS: Unable to mount "
                            "root fs'\nexec sleep 60\n")
    out = io.BytesIO()
    start = time.monotonic()
    with pytest.raises(DistrokitError, match=r"^kernel panic: VFS: Unable to mount root fs$"):
        supervise([fake], out, timeout=30)
    assert time.monotonic() - start < 3
    assert b"Kernel panic" in out.getvalue()


def test_panic_trace_end_stops_at_once(tmp_path: Path) -> None:
    fake = script(tmp_path, "echo 'Kernel panic - not syncing: oops'; echo trace\n"
                            "echo '---[ end Kernel panic - not syncing: oops ]---'\n"
                            "exec sleep 60\n")
    start = time.monotonic()
    with pytest.raises(DistrokitError, match="kernel panic: oops"):
        supervise([fake], io.BytesIO(), timeout=30)
    assert time.monotonic() - start < 1.5


@pytest.mark.parametrize(("firmware", "hint"), [
    ("echo 'Boot failed: not a bootable disk'; echo 'No bootable device.'", "needs --uefi"),
    ("echo 'BdsDxe: No bootable option or device was found.'", "boots without --uefi"),
])
def test_nothing_to_boot_fails_fast(tmp_path: Path, firmware: str, hint: str) -> None:
    fake = script(tmp_path, f"{firmware}\nexec sleep 60\n")
    start = time.monotonic()
    with pytest.raises(DistrokitError, match=f"the guest did not boot: .*{hint}"):
        supervise([fake], io.BytesIO(), timeout=30)
    assert time.monotonic() - start < 3


def test_timeout(tmp_path: Path) -> None:
    fake = script(tmp_path, "echo started; exec sleep 60\n")
    start = time.monotonic()
    with pytest.raises(DistrokitError, match=r"guest did not power off within 0.5 s"):
        supervise([fake], io.BytesIO(), timeout=0.5)
    assert time.monotonic() - start < 3


def test_qemu_failure_quotes_its_last_stderr_line(tmp_path: Path) -> None:
    fake = script(tmp_path, "echo 'first' >&2; echo 'qemu: -kernel k: could not open' >&2; "
                            "exit 1\n")
    with pytest.raises(DistrokitError, match=r"qemu failed \(exit 1\): qemu: -kernel k: could "
                                             r"not open$"):
        supervise([fake], io.BytesIO(), timeout=10)


def test_interrupt_kills_qemu(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    fake = script(tmp_path, f"echo $$ > {pidfile}; echo hello; exec sleep 60\n")

    class Interrupting(io.BytesIO):
        def write(self, data: bytes) -> int:  # type: ignore[override]
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        supervise([fake], Interrupting(), timeout=30)
    with pytest.raises(ProcessLookupError):
        os.kill(int(pidfile.read_text()), 0)


# -- run_qemu end to end with a fake qemu on PATH --------------------------------

@pytest.fixture
def artifacts(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "k").write_bytes(b"K")
    (tmp_path / "i").write_bytes(b"I")
    return tmp_path / "k", tmp_path / "i"


def test_run_qemu_passes_argv(tmp_path: Path, artifacts: tuple[Path, Path],
                              monkeypatch: pytest.MonkeyPatch) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    script(bindir, 'for a in "$@"; do echo "$a"; done\n', name="qemu-system-x86_64")
    monkeypatch.setenv("PATH", str(bindir))
    out = io.BytesIO()
    kernel, initrd = artifacts
    assert run_qemu(kernel, initrd, "quiet", accel="tcg", mem_mb=256, console_out=out) == 0
    args = out.getvalue().decode().splitlines()
    assert args[args.index("-kernel") + 1] == str(kernel)
    assert args[args.index("-append") + 1] == "quiet console=ttyS0"
    assert args[args.index("-m") + 1] == "256"


def test_run_qemu_without_qemu(artifacts: tuple[Path, Path],
                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr("shutil.which", lambda *a, **k: None)
    with pytest.raises(DistrokitError, match="apt-get install qemu-system-x86"):
        run_qemu(*artifacts, "", accel="tcg")


def test_run_qemu_missing_initrd(tmp_path: Path, artifacts: tuple[Path, Path]) -> None:
    if shutil.which(qemu.QEMU) is None:
        pytest.skip("needs qemu-system-x86_64 on PATH for the preflight")
    with pytest.raises(DistrokitError, match="not found"):
        run_qemu(artifacts[0], tmp_path / "missing", "", accel="tcg")


# -- accelerator choice -------------------------------------------------------

def test_explicit_accel_needs_no_probe() -> None:
    assert accel.resolve_accel("tcg", "/nonexistent", Path("k")) == "tcg"
    assert accel.resolve_accel("kvm", "/nonexistent", Path("k")) == "kvm"
    with pytest.raises(DistrokitError, match="unknown accelerator"):
        accel.resolve_accel("hvf", "/nonexistent", Path("k"))


@pytest.mark.parametrize(("body", "works"), [
    ("echo 'SeaBIOS'; echo '[ 0.0] Linux version 6.1.0'; exec sleep 60\n", True),
    ("echo 'SeaBIOS'; exec sleep 60\n", False),  # hangs before the kernel speaks
    ("echo 'error: failed to set MSR 0x10a' >&2; exit 134\n", False),
])
def test_kvm_probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str,
                   works: bool) -> None:
    fake = script(tmp_path, body)
    monkeypatch.setattr("os.access", lambda *a: True)
    monkeypatch.setattr(accel, "_cpu_virtualises", lambda: True)
    monkeypatch.setattr(accel, "PROBE_SECONDS", 0.5)
    accel._reset_cache()
    try:
        assert accel.resolve_accel("auto", fake, Path("k")) == ("kvm" if works else "tcg")
    finally:
        accel._reset_cache()


def test_kvm_probe_without_cpu_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.access", lambda *a: True)
    monkeypatch.setattr(accel, "_cpu_virtualises", lambda: False)
    accel._reset_cache()
    try:
        assert accel.resolve_accel("auto", "/nonexistent", Path("k")) == "tcg"
    finally:
        accel._reset_cache()


def test_kvm_probe_without_dev_kvm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.access", lambda *a: False)
    accel._reset_cache()
    try:
        assert accel.resolve_accel("auto", "/nonexistent", Path("k")) == "tcg"
    finally:
        accel._reset_cache()
