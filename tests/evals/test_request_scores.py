"""An eval run's scores as ``scores`` rows on the requests it made (``evals/request_scores.py``):
one per checked assertion, named by its metric or type (a repeat in one case numbered), valued by its
score with its reason; nothing for an assertion that errored or a reply with no request id."""

from __future__ import annotations

from datetime import UTC, datetime

from llmgate.evals.assertions import Outcome
from llmgate.evals.request_scores import request_score_rows, source_of
from llmgate.evals.results import CaseResult, RunSummary


def run(*results: CaseResult) -> RunSummary:
    return RunSummary(
        run_id="r" * 32,
        suite="s",
        suite_path=None,
        suite_hash="h",
        git_commit=None,
        model="m",
        trigger="cli",
        status="passed",
        started_at=datetime(2026, 1, 1, tzinfo=UTC),
        results=list(results),
    )


def result(case_id: str, request_id: str | None, *outcomes: Outcome) -> CaseResult:
    return CaseResult(case_id, 0, {}, "answer", "passed", 1.0, list(outcomes), request_id=request_id)


def test_each_checked_assertion_is_a_row_on_its_request() -> None:
    summary = run(
        result(
            "a",
            "req-a",
            Outcome("contains", True, 1.0),
            Outcome("contains", False, 0.0, reason="missing 'x'"),
            Outcome("grounded", True, 0.87, reason="supported", metric="faithfulness"),
            Outcome("llm_judge", False, 0.0, error="judge unreachable"),
            Outcome("contains", True, 1.0, reason="r" * 3000),
        ),
        result("b", None, Outcome("contains", True, 1.0)),  # no request id: nothing
        result("c", "req-c", Outcome("x" * 80, True, 0.5)),
    )
    rows = request_score_rows(summary)
    assert [(r["target_id"], r["name"], r["value"]) for r in rows] == [
        ("req-a", "contains", 1.0),
        ("req-a", "contains#2", 0.0),
        ("req-a", "faithfulness", 0.87),
        ("req-a", "contains#3", 1.0),
        ("req-c", "x" * 64, 0.5),
    ]
    assert [r["comment"] for r in rows[:3]] == [None, "missing 'x'", "supported"]
    assert len(rows[3]["comment"]) == 2000
    assert source_of("abc") == "eval:abc"
