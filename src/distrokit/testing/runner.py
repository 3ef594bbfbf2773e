"""``distrokit test``: build and run test cases side by side, one line per
finished case, a summary table, a log directory per case and JUnit XML."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from distrokit.log import DistrokitError
from distrokit.testing import reaper
from distrokit.testing.build import build_artifact
from distrokit.testing.cases import Case, read_steps
from distrokit.testing.junit import write_junit
from distrokit.testing.vm import VM, VMError, VMTimeout

PASS, FAIL, TIMEOUT, SKIP = "PASS", "FAIL", "TIMEOUT", "SKIP"


@dataclass
class Result:
    case: Case
    status: str
    seconds: float = 0.0
    message: str = ""
    logdir: Path | None = None

    @property
    def failed(self) -> bool:
        return self.status in (FAIL, TIMEOUT)

    def log_text(self) -> str:
        """The case's logs, for JUnit's system-out."""
        if self.logdir is None:
            return ""
        parts = []
        for name in ("build.log", "test.log", "console.log"):
            path = self.logdir / name
            if path.is_file():
                text = path.read_text(errors="replace")
                parts.append(f"== {name} ==\n{text[-20000:]}")
        return "\n".join(parts)


@dataclass
class Options:
    results: Path
    jobs: int = 1
    labels: frozenset[str] = frozenset()
    keep: bool = False
    accel: str = "auto"
    cache: Path | None = None


class Runner:
    def __init__(self, options: Options) -> None:
        self.options = options
        self._print_lock = threading.Lock()
        self._stopping = threading.Event()

    def run(self, cases: list[Case]) -> list[Result]:
        self.options.results.mkdir(parents=True, exist_ok=True)
        reaper.install_signal_handlers()
        pool = ThreadPoolExecutor(max_workers=max(1, self.options.jobs))
        try:
            futures = [pool.submit(self._one, case) for case in cases]
            results = [f.result() for f in futures]
        except KeyboardInterrupt:
            self._stopping.set()
            reaper.stop_all()  # VMs, builds and scripts of the running cases
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown()
        return results

    def _one(self, case: Case) -> Result:
        if self._stopping.is_set():
            return Result(case, SKIP, message="interrupted")
        reason = case.skip_reason(set(self.options.labels))
        if reason is not None:
            result = Result(case, SKIP, message=reason)
        else:
            logdir = self.options.results / case.name
            shutil.rmtree(logdir, ignore_errors=True)
            logdir.mkdir(parents=True)
            start = time.monotonic()
            result = self._run_case(case, logdir)
            result.seconds = time.monotonic() - start
            result.logdir = logdir
            (logdir / "result").write_text(f"{result.status} {result.message}\n")
        self._progress(result)
        return result

    def _progress(self, result: Result) -> None:
        if self._stopping.is_set():
            return  # cases cut short by Ctrl-C are not results
        with self._print_lock:
            line = f"{result.status:<8} {result.case.name}"
            if result.status != SKIP:
                line += f" ({result.seconds:.1f}s)"
            if result.message:
                line += f": {result.message}"
            print(line, flush=True)

    def _run_case(self, case: Case, logdir: Path) -> Result:
        work = Path(tempfile.mkdtemp(prefix="distrokit-test-"))
        try:
            try:
                artifact = build_artifact([case.yaml], work / "out", "test",
                                          log=logdir / "build.log", cache=self.options.cache)
            except DistrokitError as exc:
                return Result(case, FAIL, message=f"build failed: {exc.message}")
            if case.script is not None:
                return self._run_script(case, artifact, work, logdir)
            return self._run_expect(case, artifact, work, logdir)
        finally:
            if self.options.keep:
                shutil.copytree(work, logdir / "work", dirs_exist_ok=True, symlinks=True)
            shutil.rmtree(work, ignore_errors=True)

    def _run_script(self, case: Case, artifact: Path, work: Path, logdir: Path) -> Result:
        assert case.script is not None
        env = dict(os.environ)
        bindir = str(Path(sys.executable).parent)  # where `distrokit` is installed
        env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
        env.update({
            "DISTROKIT_TEST_NAME": case.name,
            "DISTROKIT_TEST_DIR": str(case.path.resolve()),
            "DISTROKIT_TEST_OUTPUT": str(artifact),
            "DISTROKIT_TEST_LOGDIR": str(logdir.resolve()),
            "DISTROKIT_TEST_TIMEOUT": f"{case.timeout:g}",
        })
        if self.options.cache is not None:
            env["DISTROKIT_CACHE"] = str(self.options.cache)
        with (logdir / "test.log").open("wb") as out:
            process = subprocess.Popen(["/bin/sh", str(case.script.resolve())], cwd=work,
                                       env=env, stdin=subprocess.DEVNULL, stdout=out,
                                       stderr=subprocess.STDOUT, start_new_session=True)
            reaper.register(process)
            try:
                rc = process.wait(case.timeout)
            except subprocess.TimeoutExpired:
                return Result(case, TIMEOUT, message=f"test.sh still running after "
                                                     f"{case.timeout:g} s")
            finally:
                reaper.unregister(process)
                if process.poll() is None:
                    os.killpg(process.pid, 9)
                    process.wait()
        if rc != 0:
            return Result(case, FAIL, message=f"test.sh exited with {rc}: "
                                              f"{_last_line(logdir / 'test.log')}")
        return Result(case, PASS)

    def _run_expect(self, case: Case, artifact: Path, work: Path, logdir: Path) -> Result:
        assert case.expect is not None
        try:
            steps = read_steps(case.expect)
        except DistrokitError as exc:
            return Result(case, FAIL, message=exc.message)
        options = {s.action: s.arg for s in steps if s.action in ("data", "cmdline", "mem")}
        disks = [s.arg for s in steps if s.action == "disk"]
        rejects = [re.compile(s.arg, re.M) for s in steps if s.action == "reject"]
        deadline = time.monotonic() + case.timeout
        log = (logdir / "test.log").open("w")
        vm: VM | None = None
        current = "boot"
        try:
            vm = VM(artifact, state=work / "vm", console_log=logdir / "console.log",
                    accel=self.options.accel, mem_mb=int(options.get("mem", 1024)),
                    cmdline=options.get("cmdline", ""), data=options.get("data"),
                    disks=[_disk_path(d, work) for d in disks])
            for step in steps:
                left = deadline - time.monotonic()
                current = f"line {step.line}: {step.action} {step.arg}".rstrip()
                print(f"{time.strftime('%H:%M:%S')} {current}", file=log, flush=True)
                if step.action == "expect":
                    vm.expect(step.arg, timeout=max(left, 0.0))
                elif step.action == "send":
                    vm.sendline(step.arg)
                elif step.action == "run":
                    result = vm.run(step.arg, timeout=max(left, 0.0))
                    log.write(result.output)
                    if result.returncode != 0:
                        return Result(case, FAIL, message=f"{current}: exit {result.returncode}")
                elif step.action == "poweroff":
                    vm.wait_poweroff(timeout=max(left, 0.0))
                rejected = _rejected(vm, rejects)
                if rejected:
                    return Result(case, FAIL, message=rejected)
            rejected = _rejected(vm, rejects)
            if rejected:
                return Result(case, FAIL, message=rejected)
            return Result(case, PASS)
        except VMTimeout as exc:
            return Result(case, TIMEOUT, message=f"{current}: {exc.message}")
        except VMError as exc:
            return Result(case, FAIL, message=f"{current}: {exc.message}")
        except DistrokitError as exc:
            return Result(case, FAIL, message=exc.message)
        finally:
            if vm is not None:
                vm.close()
            log.close()


def _disk_path(spec: str, work: Path) -> str:
    """A relative disk file lives in the case's work directory."""
    path, sep, rest = spec.partition(",")
    if not os.path.isabs(path):
        path = str(work / path)
    return path + sep + rest


def _rejected(vm: VM, rejects: list[re.Pattern[str]]) -> str:
    console = vm.console
    for regex in rejects:
        match = regex.search(console)
        if match:
            return f"rejected output on the console: {match.group(0)!r}"
    return ""


def _last_line(path: Path) -> str:
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1][:200] if lines else "no output"


def summary(results: list[Result]) -> str:
    """The table printed at the end, and the closing count line."""
    rows = [("NAME", "RESULT", "TIME", "SUMMARY")]
    for r in results:
        time_text = f"{r.seconds:.1f}s" if r.status != SKIP else "-"
        note = r.case.summary
        if r.status != PASS and r.message:
            note = r.message
        rows.append((r.case.name, r.status, time_text, note))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:>{widths[2]}}  {d}".rstrip()
             for a, b, c, d in rows]
    counts = {s: sum(r.status == s for r in results) for s in (PASS, FAIL, TIMEOUT, SKIP)}
    failed = counts[FAIL] + counts[TIMEOUT]
    lines.append("")
    closing = f"{counts[PASS]} passed, {failed} failed"
    if counts[SKIP]:
        closing += f", {counts[SKIP]} skipped"
    lines.append(closing)
    return "\n".join(lines)


def run_tests(cases: list[Case], options: Options, junit: Path | None) -> int:
    """Run, print the summary, write JUnit; 0 when nothing failed."""
    results = Runner(options).run(cases)
    print()
    print(summary(results))
    print(f"logs: {options.results}")
    if junit is not None:
        write_junit(junit, results)
    return 1 if any(r.failed for r in results) else 0
