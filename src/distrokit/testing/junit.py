"""JUnit XML for ``distrokit test --junit``: one testsuite, one testcase per
case (classname: the dotted group, name: the case), in the form Jenkins,
GitLab and GitHub's reporters read: failure / skipped / system-out."""

from __future__ import annotations

import os
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from distrokit.testing.runner import Result


def junit_xml(results: list[Result], suite: str = "distrokit") -> ET.Element:
    from distrokit.testing.runner import SKIP, TIMEOUT

    root = ET.Element("testsuites")
    total = sum(r.seconds for r in results)
    node = ET.SubElement(root, "testsuite", {
        "name": suite,
        "tests": str(len(results)),
        "failures": str(sum(r.failed for r in results)),
        "errors": "0",
        "skipped": str(sum(r.status == SKIP for r in results)),
        "time": f"{total:.3f}",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S"),
    })
    root.set("tests", node.get("tests", "0"))
    root.set("failures", node.get("failures", "0"))
    root.set("time", node.get("time", "0"))
    for r in results:
        group, _, name = r.case.name.rpartition(".")
        case = ET.SubElement(node, "testcase", {
            "classname": group or suite, "name": name, "time": f"{r.seconds:.3f}"})
        if r.status == SKIP:
            ET.SubElement(case, "skipped", {"message": r.message})
        elif r.failed:
            kind = "timeout" if r.status == TIMEOUT else "failure"
            failure = ET.SubElement(case, "failure", {"message": r.message, "type": kind})
            failure.text = r.message
        text = r.log_text()
        if text:
            ET.SubElement(case, "system-out").text = _xml_safe(text)
    return root


def _xml_safe(text: str) -> str:
    """Consoles carry control characters that XML 1.0 cannot hold."""
    return "".join(c if c in "\t\n" or c >= " " else f"\\x{ord(c):02x}" for c in text)


def write_junit(path: Path, results: list[Result]) -> None:
    tree = ET.ElementTree(junit_xml(results))
    ET.indent(tree)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            tree.write(out, encoding="utf-8", xml_declaration=True)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
