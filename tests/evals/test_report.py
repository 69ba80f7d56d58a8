"""Reports of runs: JSON fields, JUnit XML valid against the junit-10 schema, self-contained HTML,
the terminal table, and comparisons built from two runs."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import xmlschema
from rich.console import Console

from llmgate.evals.assertions import Outcome
from llmgate.evals.console import print_comparison, print_run, print_runs
from llmgate.evals.history import compare_summaries, outcomes
from llmgate.evals.html_report import to_html
from llmgate.evals.report import to_json, to_json_data, to_junit
from llmgate.evals.results import CaseResult, RunSummary

XSD = Path(__file__).with_name("junit.xsd")
T0 = datetime(2026, 11, 1, 9, tzinfo=UTC)


def result(
    case_id: str, status: str, rep: int = 0, output: str | None = "ok", score: float | None = None
) -> CaseResult:
    passed = status == "passed"
    assertions = [
        Outcome("contains", passed, 1.0 if passed else 0.0, reason="" if passed else "missing 'x'"),
    ]
    if status == "error":
        assertions = [Outcome("llm_judge", False, 0.0, error="judge verdict rejected: not a JSON object")]
    return CaseResult(
        case_id=case_id,
        repetition=rep,
        vars={"question": f"q {case_id}"},
        output=output,
        status=status,
        score=(1.0 if passed else 0.0) if score is None else score,
        assertions=assertions,
        latency_ms=120.0,
        cost_usd=Decimal("0.0001"),
        error="llm_judge: judge verdict rejected: not a JSON object" if status == "error" else None,
    )


def summary(
    run_id: str, results: list[CaseResult], status: str = "failed", suite_hash: str = "h"
) -> RunSummary:
    return RunSummary(
        run_id=run_id,
        suite="qa <suite>",
        suite_path="/x/qa.yaml",
        suite_hash=suite_hash,
        git_commit="abc123",
        model="gpt-4o-mini",
        trigger="cli",
        status=status,
        started_at=T0,
        finished_at=T0 + timedelta(seconds=3.5),
        repeat=max(r.repetition for r in results) + 1,
        results=results,
        cost_usd=Decimal("0.0004"),
        cost_complete=True,
    )


CURRENT = summary(
    "run-current",
    [
        result("a", "passed", 0, output="fine <b>bold</b>"),
        result("a", "passed", 1),
        result("b", "failed", 0, output="bad \x00\x1b answer"),
        result("b", "passed", 1),
        result("c", "error", 0, output=None),
        result("c", "error", 1, output=None),
    ],
)


def test_json_has_each_case_and_the_summary() -> None:
    data = json.loads(to_json([(CURRENT, None)]))
    run = data["runs"][0]
    assert run["baseline"] is None
    assert run["run"]["id"] == "run-current" and run["run"]["status"] == "failed"
    assert {k: run["run"][k] for k in ("cases", "passed", "failed", "errors", "executions")} == {
        "cases": 3,
        "passed": 1,
        "failed": 1,
        "errors": 1,
        "executions": 6,
    }
    assert run["run"]["flaky"] == ["b"] and run["run"]["pass_rate"] == pytest.approx(0.5)
    first = run["cases"][0]
    assert first == {
        "id": "a",
        "repetition": 0,
        "vars": {"question": "q a"},
        "output": "fine <b>bold</b>",
        "status": "passed",
        "pass": True,
        "score": 1.0,
        "assertions": [{"type": "contains", "score": 1.0, "pass": True, "weight": 1.0}],
        "latency_ms": 120.0,
        "cost_usd": 0.0001,
        "error": None,
    }


def test_junit_validates_against_the_schema_ci_tools_read() -> None:
    xml = to_junit([(CURRENT, None), (summary("run-2", [result("a", "passed")], status="passed"), None)])
    schema = xmlschema.XMLSchema(str(XSD))
    schema.validate(xml)
    data = schema.to_dict(xml)
    assert (data["@tests"], data["@failures"], data["@errors"]) == ("4", "1", "1")
    first = data["testsuite"][0]
    assert first["@name"] == "qa <suite> [gpt-4o-mini]" and first["@time"] == "3.500"
    cases = {c["@name"]: c for c in first["testcase"]}
    assert set(cases) == {"a", "b", "c"}  # one test case per suite case, repetitions folded in
    assert "failure" not in cases["a"] and "error" not in cases["a"]
    failure = cases["b"]["failure"][0]
    assert failure["@message"] == "1 of 2 repetitions did not pass: contains: missing 'x'"
    assert cases["c"]["error"][0]["@message"].startswith("2 of 2 repetitions did not pass: llm_judge:")
    assert cases["a"]["@classname"] == "qa <suite>.gpt-4o-mini" and cases["a"]["@time"] == "0.240"
    assert "\x00" not in xml  # characters XML cannot hold are replaced


def test_an_empty_report_is_valid_junit() -> None:
    xmlschema.XMLSchema(str(XSD)).validate(to_junit([]))


def test_html_is_self_contained_and_escaped() -> None:
    page = to_html([(CURRENT, None)])
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"<(script|link|img|iframe)\b", page)
    assert "http://" not in page and "https://" not in page
    assert "fine &lt;b&gt;bold&lt;/b&gt;" in page and "qa &lt;suite&gt;" in page
    assert "flaky" in page


def test_comparisons_name_the_flipped_cases_with_both_answers() -> None:
    baseline = summary(
        "run-base",
        [result(c, "passed", output=f"good {c}") for c in "abcdefgh"],
        status="passed",
        suite_hash="old",
    )
    current = summary(
        "run-new",
        [result(c, "failed", output=f"bad {c}") for c in "abcdefg"] + [result("h", "passed")],
        suite_hash="new",
    )
    compared = compare_summaries(baseline, current)
    assert compared.regression and compared.suite_changed
    assert compared.comparison.flipped_to_fail == list("abcdefg")
    flip = compared.flips[0]
    assert (flip.case_id, flip.old_output, flip.new_output, flip.reason) == (
        "a",
        "good a",
        "bad a",
        "contains: missing 'x'",
    )
    data = compared.to_dict()
    assert (
        data["regression"]
        and data["flips"][0]["new_output"] == "bad a"
        and data["baseline_run"] == "run-base"
    )
    assert outcomes(current)["a"].passes == [False]

    assert not compare_summaries(baseline, baseline).regression

    out = io.StringIO()
    console = Console(file=out, width=200, color_system=None)
    print_comparison(console, compared)
    text = out.getvalue()
    assert "REGRESSION" in text and "good a" in text and "bad a" in text and "pass → fail" in text
    html = to_html([(current, compared)])
    assert "Regression" in html and "good a" in html
    junit = to_junit([(current, compared)])
    xmlschema.XMLSchema(str(XSD)).validate(junit)
    assert '<property name="regression" value="true" />' in junit
    payload = to_json_data([(current, compared)])
    assert payload["runs"][0]["baseline"]["flipped_to_fail"] == list("abcdefg")


def test_the_terminal_table() -> None:
    out = io.StringIO()
    console = Console(file=out, width=200, color_system=None)
    print_run(console, CURRENT)
    text = out.getvalue()
    assert "(flaky)" in text and "✗contains" in text and "!llm_judge" in text
    assert "1/3 passed, 1 failed, 1 errors" in text and "$0.0004 " in text
    out.truncate(0)
    print_runs(
        console,
        [
            {
                "id": "run-current-0123",
                "started_at": T0,
                "suite": "qa",
                "model": "m",
                "status": "failed",
                "passed": 1,
                "failed": 1,
                "errors": 1,
                "cost_usd": None,
            }
        ],
        {"run-current-0123"},
    )
    assert "run-current-" in out.getvalue() and "baseline" in out.getvalue()
