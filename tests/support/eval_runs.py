"""Eval runs written through the store's own functions, for the dashboard's tests."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from llmgate.evals.assertions.base import Outcome
from llmgate.evals.results import CaseResult, RunSummary
from llmgate.store import evals as store

CASES = 20


def store_run(engine: Any, run_id: str, suite: str, model: str, days_ago: float, failing: int = 0) -> None:
    started = datetime.now(UTC) - timedelta(days=days_ago)
    results = []
    for i in range(CASES):
        passed = i >= failing
        answer = "Paris" if passed else "<script>alert(1)</script> Lyon"
        outcome = Outcome("contains", passed, 1.0 if passed else 0.0, reason="" if passed else "no 'Paris'")
        results.append(
            CaseResult(
                case_id=f"case-{i:02}",
                repetition=0,
                vars={"question": f"Capital of France? ({i})"},
                output=answer,
                status="passed" if passed else "failed",
                score=1.0 if passed else 0.0,
                assertions=[outcome],
                latency_ms=12.0,
            )
        )
    run = RunSummary(
        run_id=run_id,
        suite=suite,
        suite_path=f"evals/{suite}.yaml",
        suite_hash="h",
        git_commit=None,
        model=model,
        trigger="cli",
        status="running",
        started_at=started,
    )
    store.insert_run(engine, run.run_row())
    done = run.ended(None, results, None, False)
    done = dataclasses.replace(done, finished_at=started + timedelta(seconds=42))
    store.finish_run(engine, run_id, done.final_values(), done.result_rows())
