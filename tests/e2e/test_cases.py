"""The example test cases in tests/cases, run with `distrokit test` as a
user would: every one passes (they check the init's behaviour: a failing
onboot container is reported, services log to /var/log and to the console
when asked, and a test.sh case)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from distrokit.cli import main

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.network, pytest.mark.boot,
    pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None,
                       reason="needs qemu-system-x86"),
]


def test_example_cases_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["test", "-j", "2", "--results", str(tmp_path / "results"),
                 "--junit", str(tmp_path / "junit.xml"), str(ROOT / "tests" / "cases")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "3 passed, 0 failed" in out, out
    assert (tmp_path / "junit.xml").is_file()
