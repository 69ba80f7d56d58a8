"""Eval runs over time, each compared with what came before it, and two runs' flipped cases side by side.

The dashboard's Evals page reads these. ``runs_timeline`` lists the runs of a time range (per
suite and model: pass rate, status, time) and compares each finished run, case by case, with
``history.compare_summaries`` (the same test as ``llmgate eval compare``): against the baseline of
its suite and model when one is set and older than the run, else against the previous finished
run. ``compare_runs`` gives, for two runs, every case that flipped: its input, both outputs and
both runs' assertion results.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from llmgate.evals.history import RunNotFound, compare_summaries, load_run
from llmgate.store import evals as store

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from llmgate.evals.results import CaseSummary, RunSummary

__all__ = ["RunNotFound", "compare_runs", "runs_timeline"]


class _Runs:
    """Runs loaded with their results, once per request."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._loaded: dict[str, RunSummary | None] = {}

    def get(self, run_id: str) -> RunSummary | None:
        if run_id not in self._loaded:
            try:
                self._loaded[run_id] = load_run(self.engine, run_id)
            except RunNotFound:
                self._loaded[run_id] = None
        return self._loaded[run_id]


def _pass_rate(row: dict[str, Any]) -> float | None:

    summary = orjson.loads(row["summary_json"]) if row.get("summary_json") else {}
    rate = summary.get("pass_rate")
    if isinstance(rate, int | float):
        return float(rate)
    return row["passed"] / row["cases"] if row.get("cases") else None


def _previous(engine: Engine, row: dict[str, Any]) -> str | None:
    """The newest finished run of the same suite and model that started before ``row``."""
    older = store.list_runs(engine, suite=row["suite"], model=row["model"], until=row["started_at"], limit=10)
    return next((r["id"] for r in older if r["status"] != "running" and r["id"] != row["id"]), None)


def _reference(
    engine: Engine, row: dict[str, Any], baselines: dict[tuple[str, str], dict[str, Any]]
) -> tuple[str, str] | None:
    """(run id, ``baseline`` | ``previous``) that ``row`` is compared with, or ``None``."""
    baseline = baselines.get((row["suite"], row["model"]))
    if baseline is not None and baseline["run_id"] != row["id"]:
        base_run = store.get_run(engine, baseline["run_id"])
        if base_run is not None and base_run["started_at"] < row["started_at"]:
            return baseline["run_id"], "baseline"
    previous = _previous(engine, row)
    return (previous, "previous") if previous is not None else None


def runs_timeline(
    engine: Engine,
    *,
    since: datetime,
    until: datetime,
    suite: str | None = None,
    model: str | None = None,
    limit: int = 200,
    compare_limit: int = 60,
    alpha: float = 0.05,
    min_effect: float = 0.05,
) -> dict[str, Any]:
    """Runs started in [since, until) (newest first, at most ``limit``), the newest
    ``compare_limit`` of them compared; and each suite and model's pass rate over time."""
    rows = store.list_runs(engine, suite=suite, model=model, since=since, until=until, limit=limit)
    baselines = {(b["suite"], b["model"]): b for b in store.list_baselines(engine)}
    loaded = _Runs(engine)
    runs: list[dict[str, Any]] = []
    for index, row in enumerate(rows):
        baseline = baselines.get((row["suite"], row["model"]))
        entry: dict[str, Any] = {
            "id": row["id"],
            "suite": row["suite"],
            "model": row["model"],
            "status": row["status"],
            "trigger": row["trigger"],
            "git_commit": row["git_commit"],
            "started_at": row["started_at"].isoformat(),
            "finished_at": row["finished_at"].isoformat() if row["finished_at"] else None,
            "duration_s": (row["finished_at"] - row["started_at"]).total_seconds()
            if row["finished_at"]
            else None,
            "cases": row["cases"],
            "passed": row["passed"],
            "failed": row["failed"],
            "errors": row["errors"],
            "pass_rate": _pass_rate(row),
            "cost_usd": str(row["cost_usd"]) if row["cost_usd"] is not None else None,
            "is_baseline": baseline is not None and baseline["run_id"] == row["id"],
            "compared_with": None,
            "regression": False,
        }
        reference = (
            _reference(engine, row, baselines)
            if row["status"] != "running" and index < compare_limit
            else None
        )
        current = loaded.get(row["id"]) if reference is not None else None
        before = loaded.get(reference[0]) if reference is not None else None
        if reference is not None and current is not None and before is not None:
            result = compare_summaries(before, current, alpha=alpha, min_effect=min_effect)
            c = result.comparison
            entry.update(
                compared_with={"run_id": reference[0], "kind": reference[1]},
                regression=c.regression,
                p_value=round(c.p_value, 6),
                effect=round(c.effect, 6),
                flipped_to_fail=len(c.flipped_to_fail),
                flipped_to_pass=len(c.flipped_to_pass),
                suite_changed=result.suite_changed,
            )
        runs.append(entry)
    series: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for entry in reversed(runs):
        if entry["status"] != "running" and entry["pass_rate"] is not None:
            series.setdefault((entry["suite"], entry["model"]), []).append(
                {
                    "run_id": entry["id"],
                    "at": entry["started_at"],
                    "pass_rate": entry["pass_rate"],
                    "regression": entry["regression"],
                    "is_baseline": entry["is_baseline"],
                }
            )
    return {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "truncated": len(rows) >= limit,
        "runs": runs,
        "series": [{"suite": s, "model": m, "points": points} for (s, m), points in sorted(series.items())],
    }


def _side(case: CaseSummary | None) -> dict[str, Any] | None:
    if case is None:
        return None
    first = case.first
    return {
        "status": case.status,
        "score": round(case.score, 6),
        "output": first.output,
        "error": first.error,
        "latency_ms": first.latency_ms,
        "repetitions": len(case.results),
        "assertions": [o.to_dict() for o in first.assertions],
    }


def compare_runs(
    engine: Engine,
    current_ref: str,
    baseline_ref: str | None = None,
    *,
    alpha: float = 0.05,
    min_effect: float = 0.05,
) -> dict[str, Any]:
    """``current_ref`` against ``baseline_ref`` (default: as ``runs_timeline`` picks it): the
    verdict and every flipped case side by side. ``RunNotFound`` for an unknown run."""
    current = load_run(engine, current_ref)
    kind = "chosen"
    if baseline_ref is None:
        row = store.get_run(engine, current.run_id)
        assert row is not None
        baselines = {(b["suite"], b["model"]): b for b in store.list_baselines(engine)}
        reference = _reference(engine, row, baselines)
        if reference is None:
            return {"current": current.to_dict(), "baseline": None, "comparison": None, "flips": []}
        baseline_ref, kind = reference
    baseline = load_run(engine, baseline_ref)
    result = compare_summaries(baseline, current, alpha=alpha, min_effect=min_effect)
    c = result.comparison
    old = {case.case_id: case for case in baseline.cases()}
    new = {case.case_id: case for case in current.cases()}
    flips = []
    for flip in result.flips:
        after, before = new.get(flip.case_id), old.get(flip.case_id)
        source = after or before
        flips.append(
            {
                "id": flip.case_id,
                "direction": flip.direction,
                "input": source.first.vars if source is not None else {},
                "reason": flip.reason,
                "baseline": _side(before),
                "current": _side(after),
            }
        )
    return {
        "current": current.to_dict(),
        "baseline": baseline.to_dict() | {"kind": kind},
        "comparison": {
            "regression": c.regression,
            "method": c.method,
            "p_value": round(c.p_value, 6),
            "effect": round(c.effect, 6),
            "baseline_pass_rate": round(c.baseline_pass_rate, 6),
            "current_pass_rate": round(c.current_pass_rate, 6),
            "compared": c.compared,
            "flaky": c.flaky,
            "suite_changed": result.suite_changed,
        },
        "flips": flips,
    }
