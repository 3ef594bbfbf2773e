"""Everything the test tools started that must not outlive them: VMs and
subprocesses, stopped at exit, on SIGTERM, and on Ctrl-C."""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import threading
from types import FrameType
from typing import Protocol


class Closable(Protocol):
    def close(self) -> None: ...


_lock = threading.Lock()
_live: dict[int, Closable | subprocess.Popen[bytes]] = {}


def register(thing: Closable | subprocess.Popen[bytes]) -> None:
    with _lock:
        _live[id(thing)] = thing


def unregister(thing: Closable | subprocess.Popen[bytes]) -> None:
    with _lock:
        _live.pop(id(thing), None)


def stop_all() -> None:
    """Kill every registered process group and close every VM."""
    with _lock:
        things = list(_live.values())
        _live.clear()
    for thing in things:
        if isinstance(thing, subprocess.Popen):
            if thing.poll() is None:
                try:
                    os.killpg(thing.pid, signal.SIGKILL)  # started with its own session
                except (ProcessLookupError, PermissionError):
                    thing.kill()
                thing.wait()
        else:
            thing.close()


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    stop_all()
    raise SystemExit(128 + signum)


def install_signal_handlers() -> None:
    """Turn SIGTERM into a clean exit (the default would skip cleanup).
    Only from the main thread, and only where nobody set a handler."""
    if threading.current_thread() is threading.main_thread() and \
            signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _on_sigterm)


atexit.register(stop_all)
