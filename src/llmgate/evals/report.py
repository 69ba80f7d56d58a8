"""Reports of runs: ``render(runs, fmt)`` for every format; JSON and JUnit XML here (HTML is in
``html_report``, the terminal table in ``console``).

Every report takes a list of ``(RunSummary, RunComparison | None)``: one entry per model run, with
its comparison against the baseline when there is one.

- JSON: ``{"runs": [{"run": {...summary...}, "cases": [...], "baseline": {...} | null}]}``; each
  case (one entry per repetition) has its ``id``, ``vars``, ``output``, ``status``, ``pass``,
  ``score`` and each assertion's ``type``, ``score`` and ``pass`` (with ``reason``/``error``).
- JUnit: ``<testsuites>`` with one ``<testsuite>`` per run and one ``<testcase>`` per suite case
  (repetitions folded into it: a ``<failure>`` when any repetition failed, else an ``<error>`` when
  any errored), in the shape Jenkins, GitLab and GitHub test reporters read (validated in the tests
  against the junit-10 schema).
"""

from __future__ import annotations

import re
import socket
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Any

import orjson

from llmgate.evals.console import table_text
from llmgate.evals.html_report import to_html
from llmgate.evals.reported import Reported, failure_message
from llmgate.evals.results import CaseSummary, RunSummary

if TYPE_CHECKING:
    from llmgate.evals.history import RunComparison

# Characters XML 1.0 cannot hold at all (even escaped).
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


FORMATS = ("table", "json", "junit", "html")


def render(runs: list[Reported], fmt: str) -> str:
    """The report in ``fmt``: ``table`` (plain text), ``json``, ``junit`` or ``html``."""
    if fmt == "json":
        return to_json(runs)
    if fmt == "junit":
        return to_junit(runs)
    if fmt == "html":
        return to_html(runs)
    if fmt == "table":
        return table_text(runs)
    raise ValueError(f"unknown report format {fmt!r} (use {', '.join(FORMATS)})")


def to_json_data(runs: list[Reported]) -> dict[str, Any]:
    return {
        "runs": [
            {
                "run": summary.to_dict(),
                "cases": [r.to_dict() for r in summary.results],
                "baseline": comparison.to_dict() if comparison is not None else None,
            }
            for summary, comparison in runs
        ]
    }


def to_json(runs: list[Reported]) -> str:
    return orjson.dumps(to_json_data(runs), option=orjson.OPT_INDENT_2, default=str).decode() + "\n"


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _seconds(value: float | None) -> str:
    return f"{max(0.0, value or 0.0):.3f}"


def _details(case: CaseSummary) -> str:
    lines: list[str] = []
    for result in case.results:
        head = f"repetition {result.repetition}: {result.status}, score {result.score:.3f}"
        lines.append(head if len(case.results) > 1 else f"{result.status}, score {result.score:.3f}")
        for o in result.assertions:
            mark = "error" if o.error else ("pass" if o.passed else "FAIL")
            lines.append(f"  {o.type}: {mark} ({o.score:.3f}) {o.error or o.reason}".rstrip())
        if result.error and not result.assertions:
            lines.append(f"  error: {result.error}")
    return "\n".join(lines)


def _testsuite(parent: ET.Element, summary: RunSummary, comparison: RunComparison | None) -> None:
    counts = summary.counts()
    suite = ET.SubElement(
        parent,
        "testsuite",
        {
            "name": _xml_text(f"{summary.suite} [{summary.model}]"),
            "tests": str(counts["cases"]),
            "failures": str(counts["failed"]),
            "errors": str(counts["errors"]),
            "skipped": "0",
            "time": _seconds(summary.duration_s),
            "timestamp": summary.started_at.strftime("%Y-%m-%dT%H:%M:%S"),
            "hostname": _xml_text(socket.gethostname() or "localhost"),
            "id": summary.run_id,
        },
    )
    properties = ET.SubElement(suite, "properties")
    values = {
        "run_id": summary.run_id,
        "model": summary.model,
        "suite_hash": summary.suite_hash,
        "git_commit": summary.git_commit or "",
        "repeat": str(summary.repeat),
        "pass_rate": f"{summary.pass_rate:.4f}",
        "mean_score": f"{summary.mean_score:.4f}",
    }
    if comparison is not None:
        values["baseline_run"] = comparison.baseline.run_id
        values["regression"] = "true" if comparison.regression else "false"
        values["regression_p_value"] = f"{comparison.comparison.p_value:.6f}"
    for name, value in values.items():
        ET.SubElement(properties, "property", {"name": name, "value": _xml_text(value)})
    classname = _xml_text(f"{summary.suite}.{summary.model}")
    for case in summary.cases():
        element = ET.SubElement(
            suite,
            "testcase",
            {
                "name": _xml_text(case.case_id),
                "classname": classname,
                "time": _seconds(case.latency_ms / 1000),
            },
        )
        if case.status != "passed":
            tag = "failure" if case.status == "failed" else "error"
            kind = "assertion" if tag == "failure" else "error"
            problem = ET.SubElement(element, tag, {"message": _xml_text(failure_message(case)), "type": kind})
            problem.text = _xml_text(_details(case))
        output = case.first.output
        if output:
            ET.SubElement(element, "system-out").text = _xml_text(output)


def to_junit(runs: list[Reported]) -> str:
    """JUnit XML with one ``<testcase>`` per suite case of each run."""
    root = ET.Element("testsuites", {"name": "llmgate eval"})
    tests = failures = errors = 0
    total_time = 0.0
    for summary, comparison in runs:
        _testsuite(root, summary, comparison)
        counts = summary.counts()
        tests += counts["cases"]
        failures += counts["failed"]
        errors += counts["errors"]
        total_time += summary.duration_s or 0.0
    root.set("tests", str(tests))
    root.set("failures", str(failures))
    root.set("errors", str(errors))
    root.set("time", _seconds(total_time))
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"
