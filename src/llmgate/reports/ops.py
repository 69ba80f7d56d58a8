"""The operations report: how fast problems are seen and fixed, how available the models are, what
the canaries decided, and how much of the traffic the monitors and scheduled evals watch.

``ops_report`` answers ``llmgate report ops``, ``GET /admin/report/ops`` and the dashboard's
Operations page alike, from the queries in ``store/ops.py`` (which says where each time comes
from), over ``[since, until)``:

- **Alerts**, per kind: how many; the mean time to detect (MTTD: the first affected record to the
  alert) over the alerts whose start is known, and how many had none (``no_start``); the mean time
  to resolve (MTTR: the alert to its resolution, or to its canary's rollback) over the resolved
  ones, and how many are still open (``unresolved``). Notices (severity ``info``: ``*.resolved``,
  ``canary.promoted``) are counted in ``alerts`` and ``notices`` and in nothing else.
- **Availability**, per model group and per deployment: ``availability`` is succeeded / served
  (served = requests - rejected: a request the gateway refused before calling any upstream, a
  budget or a key's limit, says nothing about the models), fallbacks and retries included;
  ``availability_without_fallbacks`` counts only the successes at the first attempt (a success
  after a retry or a fallback is a failure there). ``fallback_rate`` and ``retry_rate``: the share
  of served requests that took a fallback (an attempt on another model group) or a retry (another
  attempt on the same group); one request may take both.
- **Canaries** that started or ended in the range, or are running: promoted, rolled back,
  cancelled, active; for each, the time to its decision (``ended_at - started_at``) and the
  candidate's requests up to it; the means per outcome.
- **Coverage**: monitor samples / requests (``sampled_share``), and the share of requests whose
  model had a scheduled eval run in the range (``eval_share``), with those models.

``to_json`` is the report as data: seconds as numbers, shares from 0 to 1, ``null`` where nothing
was measured. The CSV and the terminal tables are made from it in ``reports/ops_formats.py``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from llmgate.errors import InvalidRequest
from llmgate.reports.spend import TOTAL_LABEL
from llmgate.store import ops as queries
from llmgate.store.ops import AlertSums, CanaryRow, Coverage, TrafficSums

__all__ = ["OpsReport", "ops_report", "outcome", "to_json"]

#: canary statuses in which no decision is taken yet
ACTIVE = ("running", "paused")
#: the canary outcomes the summary counts, in this order
OUTCOMES = ("promoted", "rolled_back", "cancelled", "active")


@dataclass(frozen=True, slots=True)
class OpsReport:
    since: datetime
    until: datetime | None
    time_zone: str
    alerts: list[AlertSums]
    groups: list[tuple[str, TrafficSums]]
    deployments: list[tuple[str | None, TrafficSums]]
    canaries: list[CanaryRow]
    coverage: Coverage


def ops_report(
    engine: Engine, *, since: datetime, until: datetime | None = None, tz: str = "UTC"
) -> OpsReport:
    """The report over ``[since, until)`` (UTC bounds from ``config.time_range``)."""
    if until is not None and until <= since:
        raise InvalidRequest("until: must be later than since", param="until")
    by_group, by_deployment = queries.availability(engine, since, until)
    return OpsReport(
        since=since,
        until=until,
        time_zone=tz,
        alerts=queries.alert_sums(engine, since, until),
        groups=sorted(by_group.items()),
        deployments=sorted(by_deployment.items(), key=lambda item: (item[0] is None, item[0] or "")),
        canaries=queries.canary_rows(engine, since, until),
        coverage=queries.coverage(engine, since, until),
    )


# --- figures -----------------------------------------------------------------------------------


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def _mean(total: float, count: int) -> float | None:
    return round(total / count, 3) if count else None


def _alert_total(lines: Iterable[AlertSums]) -> AlertSums:
    lines = list(lines)
    return AlertSums(
        kind=TOTAL_LABEL,
        alerts=sum(a.alerts for a in lines),
        notices=sum(a.notices for a in lines),
        detected=sum(a.detected for a in lines),
        detect_s=sum(a.detect_s for a in lines),
        resolved=sum(a.resolved for a in lines),
        resolve_s=sum(a.resolve_s for a in lines),
    )


def _alert_json(line: AlertSums) -> dict[str, Any]:
    return {
        "kind": line.kind,
        "alerts": line.alerts,
        "incidents": line.incidents,
        "notices": line.notices,
        "mttd_s": _mean(line.detect_s, line.detected),
        "detected": line.detected,
        "no_start": line.incidents - line.detected,
        "mttr_s": _mean(line.resolve_s, line.resolved),
        "resolved": line.resolved,
        "unresolved": line.incidents - line.resolved,
    }


def _traffic_total(lines: Iterable[TrafficSums]) -> TrafficSums:
    total = TrafficSums()
    for line in lines:
        total.requests += line.requests
        total.rejected += line.rejected
        total.succeeded += line.succeeded
        total.first_try += line.first_try
        total.with_fallback += line.with_fallback
        total.with_retry += line.with_retry
    return total


def _traffic_json(name: str | None, sums: TrafficSums) -> dict[str, Any]:
    served = sums.requests - sums.rejected
    return {
        "name": name,
        "requests": sums.requests,
        "rejected": sums.rejected,
        "served": served,
        "succeeded": sums.succeeded,
        "succeeded_first_try": sums.first_try,
        "availability": _ratio(sums.succeeded, served),
        "availability_without_fallbacks": _ratio(sums.first_try, served),
        "with_fallback": sums.with_fallback,
        "with_retry": sums.with_retry,
        "fallback_rate": _ratio(sums.with_fallback, served),
        "retry_rate": _ratio(sums.with_retry, served),
    }


def outcome(row: CanaryRow) -> str:
    """``promoted``, ``rolled_back``, ``cancelled`` or ``active``."""
    return "active" if row.status in ACTIVE else row.status


def _decision_s(row: CanaryRow) -> float | None:
    if row.ended_at is None or outcome(row) == "active":
        return None
    return round(max(0.0, (row.ended_at - row.started_at).total_seconds()), 3)


def _canary_json(row: CanaryRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "model": row.model,
        "candidate": row.candidate,
        "status": row.status,
        "outcome": outcome(row),
        "percent": row.percent,
        "started_at": row.started_at.isoformat(),
        "ended_at": row.ended_at.isoformat() if row.ended_at is not None else None,
        "time_to_decision_s": _decision_s(row),
        "candidate_requests": row.candidate_requests,
    }


def _canary_summary(rows: list[CanaryRow]) -> dict[str, Any]:
    summary: dict[str, Any] = {name: sum(outcome(r) == name for r in rows) for name in OUTCOMES}
    for name in ("promoted", "rolled_back"):
        decided = [r for r in rows if outcome(r) == name]
        times = [t for t in (_decision_s(r) for r in decided) if t is not None]
        summary[f"mean_time_to_{name}_s"] = _mean(sum(times), len(times))
        summary[f"mean_candidate_requests_to_{name}"] = _mean(
            sum(r.candidate_requests for r in decided), len(decided)
        )
    return summary


def _coverage_json(cover: Coverage) -> dict[str, Any]:
    return {
        "requests": cover.requests,
        "sampled": cover.sampled,
        "sampled_share": _ratio(cover.sampled, cover.requests),
        "eval_covered": cover.eval_covered,
        "eval_share": _ratio(cover.eval_covered, cover.requests),
        "eval_models": list(cover.eval_models),
    }


# --- the report as data -----------------------------------------------------------------------------------


def to_json(report: OpsReport) -> dict[str, Any]:
    """The report as JSON-ready data (see the module docstring)."""
    return {
        "since": report.since.isoformat(),
        "until": report.until.isoformat() if report.until is not None else None,
        "time_zone": report.time_zone,
        "alerts": {
            "kinds": [_alert_json(line) for line in report.alerts],
            "total": _alert_json(_alert_total(report.alerts)),
        },
        "availability": {
            "model_groups": [_traffic_json(name, sums) for name, sums in report.groups],
            "deployments": [_traffic_json(name, sums) for name, sums in report.deployments],
            "total": _traffic_json(TOTAL_LABEL, _traffic_total(s for _, s in report.groups)),
        },
        "canaries": {
            "summary": _canary_summary(report.canaries),
            "items": [_canary_json(row) for row in report.canaries],
        },
        "coverage": _coverage_json(report.coverage),
    }
