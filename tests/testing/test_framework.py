"""distrokit's test framework tested with itself: case discovery and
headers, expectation scripts, the summary and JUnit XML (fast), then
`distrokit test` on a passing, a failing, a timing-out and a skipped case,
and the pytest plugin on a passing and a failing test (boots)."""

from __future__ import annotations

import shutil
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from distrokit.cli import main
from distrokit.log import DistrokitError
from distrokit.testing.cases import Case, discover, host_labels, matches, read_steps
from distrokit.testing.junit import write_junit
from distrokit.testing.runner import FAIL, PASS, SKIP, TIMEOUT, Result, summary

HERE = Path(__file__).resolve().parent
CASES = HERE / "cases"
ROOT = HERE.parents[1]

pytest_plugins = ["pytester"]


def validate_junit(path: Path) -> ET.Element:
    """Validated against junit.xsd (with xmlschema, a test dependency), and parsed."""
    try:
        import xmlschema
    except ImportError:  # the checks of each test still run on the parsed tree
        pass
    else:
        xmlschema.XMLSchema(str(HERE / "junit.xsd")).validate(str(path))
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    return root


# -- fast --------------------------------------------------------------------

def test_discover_names_headers_and_labels() -> None:
    cases = {c.name: c for c in discover([CASES])}
    assert set(cases) == {"cases.pass", "cases.fail", "cases.timeout", "cases.labelled"}
    assert cases["cases.timeout"].timeout == 4
    assert cases["cases.pass"].summary.startswith("A case that passes")
    assert cases["cases.labelled"].labels == ["never-given"]
    assert cases["cases.labelled"].skip_reason(host_labels()) == "needs label never-given"
    assert cases["cases.labelled"].skip_reason(host_labels() | {"never-given"}) is None


def test_negative_labels(tmp_path: Path) -> None:
    case = Case("x", tmp_path, labels=["amd64", "!slow"])
    assert case.skip_reason({"amd64"}) is None
    assert case.skip_reason({"amd64", "slow"}) == "label !slow"


def test_patterns() -> None:
    assert matches("cases.pass", ["cases.*"])
    assert matches("cases.pass", ["cases"])
    assert not matches("cases.pass", ["case"])


def test_bad_case_layouts(tmp_path: Path) -> None:
    with pytest.raises(DistrokitError, match="no test cases"):
        discover([tmp_path])
    with pytest.raises(DistrokitError, match="no such directory"):
        discover([tmp_path / "missing"])
    case = tmp_path / "c"
    case.mkdir()
    (case / "test.yml").write_text("kernel: {}\n")
    (case / "test.sh").write_text("# TIMEOUT: soon\n")
    with pytest.raises(DistrokitError, match=r"test.sh:1: TIMEOUT must be seconds"):
        discover([tmp_path])
    (case / "test.expect").write_text("expect x\n")
    with pytest.raises(DistrokitError, match=r"both test\.sh and test\.expect"):
        discover([tmp_path])


@pytest.mark.parametrize(("line", "error"), [
    ("wait for it", "unknown step 'wait'"),
    ("expect ([", "bad regular expression"),
    ("expect", "expect needs an argument"),
    ("poweroff now", "poweroff takes no argument"),
    ("mem lots", "mem takes megabytes"),
])
def test_expect_file_errors_name_the_line(tmp_path: Path, line: str, error: str) -> None:
    path = tmp_path / "test.expect"
    path.write_text(f"# SUMMARY: x\n\n{line}\n")
    with pytest.raises(DistrokitError, match=rf"test.expect:3: {error}"):
        read_steps(path)


def test_expect_file_steps(tmp_path: Path) -> None:
    path = tmp_path / "test.expect"
    path.write_text("disk data.qcow2,size=64M\nexpect ^ready$\nsend 'echo  hi'\nrun true\n"
                    "poweroff\n")
    steps = read_steps(path)
    assert [(s.action, s.arg) for s in steps] == [
        ("disk", "data.qcow2,size=64M"), ("expect", "^ready$"), ("send", "echo  hi"),
        ("run", "true"), ("poweroff", "")]


def _results(tmp_path: Path) -> list[Result]:
    log = tmp_path / "logs"
    log.mkdir()
    (log / "console.log").write_text("boot\x1b[0m\x07 console text\n")
    return [
        Result(Case("g.ok", tmp_path, summary="fine"), PASS, 1.5, logdir=log),
        Result(Case("g.bad", tmp_path), FAIL, 2.0, "line 3: expect x: the guest stopped"),
        Result(Case("g.slow", tmp_path), TIMEOUT, 4.0, "did not appear"),
        Result(Case("other", tmp_path), SKIP, message="needs label x"),
    ]


def test_summary_table(tmp_path: Path) -> None:
    text = summary(_results(tmp_path))
    lines = text.splitlines()
    assert lines[0].split() == ["NAME", "RESULT", "TIME", "SUMMARY"]
    assert lines[1].split()[:3] == ["g.ok", "PASS", "1.5s"]
    assert "line 3: expect x" in lines[2] and "TIMEOUT" in lines[3]
    assert lines[-1] == "1 passed, 2 failed, 1 skipped"


def test_junit_is_valid_and_complete(tmp_path: Path) -> None:
    path = tmp_path / "out" / "junit.xml"
    write_junit(path, _results(tmp_path))
    root = validate_junit(path)
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("4", "2", "1")
    cases = {(c.get("classname"), c.get("name")): c for c in suite.iter("testcase")}
    assert cases[("g", "ok")].find("failure") is None
    assert "console text" in (cases[("g", "ok")].findtext("system-out") or "")
    failure = cases[("g", "slow")].find("failure")
    assert failure is not None and failure.get("type") == "timeout"
    assert cases[("distrokit", "other")].find("skipped") is not None


def test_cli_lists_and_rejects_bad_paths(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         ) -> None:
    assert main(["test", "--list", "-x", "cases.fail", str(CASES)]) == 0
    out = capsys.readouterr().out
    assert "cases.pass" in out and "cases.fail" not in out
    assert main(["test", str(tmp_path / "nothing")]) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [f"distrokit: error: {tmp_path / 'nothing'}: "
                                        "no such directory"]


# -- boots -------------------------------------------------------------------

needs_qemu = pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None,
                                reason="needs qemu-system-x86")


@pytest.mark.network
@pytest.mark.boot
@needs_qemu
def test_distrokit_test_reports_each_outcome(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    junit = tmp_path / "junit.xml"
    results = tmp_path / "results"
    code = main(["test", "-j", "2", "--results", str(results), "--junit", str(junit),
                 str(CASES)])
    out = capsys.readouterr().out
    assert code == 1, out  # a case failed
    table = {line.split()[0]: line.split()[1] for line in out.splitlines()
             if line.startswith("cases.")}
    assert table == {"cases.pass": PASS, "cases.fail": FAIL, "cases.timeout": TIMEOUT,
                     "cases.labelled": SKIP}, out
    assert "1 passed, 2 failed, 1 skipped" in out
    # Per-case logs: the console and the result.
    assert "tiny system says hello" in (results / "cases.pass" / "console.log").read_text()
    assert (results / "cases.fail" / "result").read_text().startswith("FAIL line 5")
    root = validate_junit(junit)
    failures = {c.get("name"): c.find("failure") for c in root.iter("testcase")}
    assert failures["pass"] is None
    assert failures["fail"] is not None and failures["fail"].get("type") == "failure"
    assert failures["timeout"] is not None and failures["timeout"].get("type") == "timeout"


@pytest.mark.network
@pytest.mark.boot
@needs_qemu
def test_pytest_plugin_boots_and_shows_the_console_on_failure(
        pytester: pytest.Pytester) -> None:
    yaml = CASES / "010_pass" / "test.yml"
    pytester.makepyfile(test_vm=textwrap.dedent(f"""
        YAML = {str(yaml)!r}

        def test_boots(distrokit_boot):
            vm = distrokit_boot(YAML)
            assert "hello" in vm.expect(r"tiny system says (\\w+)").group(1)
            vm.wait_poweroff(120)

        def test_fails(distrokit_boot):
            vm = distrokit_boot(YAML)
            vm.expect("tiny system says hello")
            vm.expect("a line that never comes", timeout=1)
    """))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*distrokit console*console.log (last 60 lines)*",
                                 "*tiny system says hello*"])
    result.stdout.fnmatch_lines(["*'a line that never comes' did not appear*"])
