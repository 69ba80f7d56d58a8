"""What a run produced: ``CaseResult`` (one case, one repetition), ``CaseSummary`` (one case over
its repetitions) and ``RunSummary`` (the run), with their store rows and plain-dict forms.

The same objects come out of ``run_suite`` and out of the store (``RunSummary.from_store``), so
every report (table, JSON, JUnit, HTML) and every comparison works on a fresh run and on an old
one alike.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

from llmgate.evals.assertions import Outcome


@dataclass(frozen=True)
class CaseResult:
    """One case, one repetition: the answer and every assertion's outcome."""

    case_id: str
    repetition: int
    vars: dict[str, Any]
    output: str | None
    status: str  # passed | failed | error
    score: float
    assertions: list[Outcome] = field(default_factory=list)
    latency_ms: float | None = None
    cost_usd: Decimal | None = None
    error: str | None = None
    tags: list[str] = field(default_factory=list)
    #: the gateway's id of the recorded request that answered (``None``: no id given); kept in the
    #: ``scores`` rows of the run (``request_scores.py``), not in ``eval_results`` nor the reports
    request_id: str | None = None

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.case_id,
            "repetition": self.repetition,
            "vars": self.vars,
            "output": self.output,
            "status": self.status,
            "pass": self.passed,
            "score": round(self.score, 6),
            "assertions": [o.to_dict() for o in self.assertions],
            "latency_ms": round(self.latency_ms, 1) if self.latency_ms is not None else None,
            "cost_usd": float(self.cost_usd) if self.cost_usd is not None else None,
            "error": self.error,
        }


@dataclass(frozen=True)
class CaseSummary:
    """One case over its repetitions."""

    case_id: str
    results: list[CaseResult]

    @property
    def status(self) -> str:
        statuses = {r.status for r in self.results}
        if "failed" in statuses:
            return "failed"
        return "error" if "error" in statuses else "passed"

    @property
    def flaky(self) -> bool:
        return len({r.passed for r in self.results}) > 1

    @property
    def score(self) -> float:
        return sum(r.score for r in self.results) / len(self.results)

    @property
    def latency_ms(self) -> float:
        return sum(r.latency_ms or 0.0 for r in self.results)

    @property
    def first(self) -> CaseResult:
        return self.results[0]


@dataclass(frozen=True)
class RunSummary:
    """One run of one suite against one model."""

    run_id: str
    suite: str
    suite_path: str | None
    suite_hash: str
    git_commit: str | None
    model: str
    trigger: str
    status: str  # running | passed | failed | error
    started_at: datetime
    finished_at: datetime | None = None
    repeat: int = 1
    results: list[CaseResult] = field(default_factory=list)
    cost_usd: Decimal | None = None
    cost_complete: bool = False
    description: str | None = None
    tags: list[str] = field(default_factory=list)

    # --- figures ----------------------------------------------------------------------------

    def cases(self) -> list[CaseSummary]:
        """Each case with its repetitions, in suite order."""
        grouped: dict[str, list[CaseResult]] = {}
        for result in self.results:
            grouped.setdefault(result.case_id, []).append(result)
        return [
            CaseSummary(cid, sorted(results, key=lambda r: r.repetition)) for cid, results in grouped.items()
        ]

    def counts(self) -> dict[str, int]:
        cases = self.cases()
        return {
            "cases": len(cases),
            "passed": sum(c.status == "passed" for c in cases),
            "failed": sum(c.status == "failed" for c in cases),
            "errors": sum(c.status == "error" for c in cases),
        }

    @property
    def pass_rate(self) -> float:
        """Share of executions (case x repetition) that passed."""
        return sum(r.passed for r in self.results) / len(self.results) if self.results else 0.0

    @property
    def mean_score(self) -> float:
        return sum(r.score for r in self.results) / len(self.results) if self.results else 0.0

    @property
    def flaky(self) -> list[str]:
        return [c.case_id for c in self.cases() if c.flaky]

    @property
    def duration_s(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    def ended(
        self, status: str | None, results: list[CaseResult], cost_usd: Decimal | None, cost_complete: bool
    ) -> RunSummary:
        """This run, finished with ``results`` (``status`` None: from the cases)."""
        done = dataclasses.replace(
            self,
            results=results,
            finished_at=datetime.now(UTC),
            cost_usd=cost_usd,
            cost_complete=cost_complete and cost_usd is not None,
        )
        if status is None:
            counts = done.counts()
            status = "failed" if counts["failed"] else ("error" if counts["errors"] else "passed")
        return dataclasses.replace(done, status=status)

    # --- plain forms ------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The run's summary (no per-case results) as JSON-ready values."""
        return {
            "id": self.run_id,
            "suite": self.suite,
            "description": self.description,
            "suite_path": self.suite_path,
            "suite_hash": self.suite_hash,
            "git_commit": self.git_commit,
            "model": self.model,
            "trigger": self.trigger,
            "status": self.status,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "duration_s": round(self.duration_s, 3) if self.duration_s is not None else None,
            "repeat": self.repeat,
            **self.counts(),
            "executions": len(self.results),
            "pass_rate": round(self.pass_rate, 6),
            "mean_score": round(self.mean_score, 6),
            "flaky": self.flaky,
            "cost_usd": float(self.cost_usd) if self.cost_usd is not None else None,
            "cost_complete": self.cost_complete,
            "tags": self.tags,
        }

    def run_row(self) -> dict[str, Any]:
        """The ``eval_runs`` row as the run starts."""
        return {
            "id": self.run_id,
            "suite": self.suite,
            "suite_path": self.suite_path,
            "suite_hash": self.suite_hash,
            "git_commit": self.git_commit,
            "model": self.model,
            "trigger": self.trigger,
            "status": self.status,
            "started_at": self.started_at,
            "repeat": self.repeat,
        }

    def final_values(self) -> dict[str, Any]:
        """The ``eval_runs`` columns written when the run ends."""
        extra = {"description": self.description, "tags": self.tags, "cost_complete": self.cost_complete}
        summary = {k: v for k, v in self.to_dict().items() if k in _SUMMARY_KEYS} | extra
        return {
            "status": self.status,
            "finished_at": self.finished_at,
            **self.counts(),
            "cost_usd": self.cost_usd,
            "summary_json": orjson.dumps(summary).decode(),
        }

    def result_rows(self) -> list[dict[str, Any]]:
        """The ``eval_results`` rows (without ``run_id``)."""
        return [
            {
                "case_id": r.case_id,
                "repetition": r.repetition,
                "vars_json": orjson.dumps(r.vars, default=str).decode(),
                "output": r.output,
                "passed": r.passed,
                "score": r.score,
                "assertions_json": orjson.dumps([o.to_dict() for o in r.assertions]).decode(),
                "latency_ms": r.latency_ms,
                "cost_usd": r.cost_usd,
                "error": r.error,
            }
            for r in self.results
        ]

    @classmethod
    def from_store(cls, run: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> RunSummary:
        """Rebuild a run from its ``eval_runs`` row and ``eval_results`` rows."""
        summary = orjson.loads(run["summary_json"]) if run.get("summary_json") else {}
        results = [_result_from_row(row) for row in rows]
        return cls(
            run_id=run["id"],
            suite=run["suite"],
            suite_path=run.get("suite_path"),
            suite_hash=run["suite_hash"],
            git_commit=run.get("git_commit"),
            model=run["model"],
            trigger=run.get("trigger") or "cli",
            status=run["status"],
            started_at=run["started_at"],
            finished_at=run.get("finished_at"),
            repeat=run.get("repeat") or 1,
            results=results,
            cost_usd=run.get("cost_usd"),
            cost_complete=bool(summary.get("cost_complete")),
            description=summary.get("description"),
            tags=list(summary.get("tags") or []),
        )


_SUMMARY_KEYS = frozenset({"executions", "pass_rate", "mean_score", "flaky", "duration_s"})


def _result_from_row(row: Mapping[str, Any]) -> CaseResult:
    assertions: Any = orjson.loads(row["assertions_json"]) if row.get("assertions_json") else []
    # A result is an error exactly when it has an error message (the model call or an assertion).
    status = "error" if row.get("error") else ("passed" if row["passed"] else "failed")
    return CaseResult(
        case_id=row["case_id"],
        repetition=row.get("repetition") or 0,
        vars=orjson.loads(row["vars_json"]) if row.get("vars_json") else {},
        output=row.get("output"),
        status=status,
        score=float(row["score"]),
        assertions=[Outcome.from_dict(a) for a in assertions if isinstance(a, dict)],
        latency_ms=row.get("latency_ms"),
        cost_usd=row.get("cost_usd"),
        error=row.get("error"),
    )
