"""The operations report's queries (``reports/ops.py`` shapes them): alerts with their times to detect
and resolve, availability with fallbacks and retries, canaries' outcomes, monitoring coverage.

Every figure is counted or summed in SQL over ``[since, until)`` (``until`` ``None``: no end), on
SQLite and PostgreSQL alike; nothing reads every request of a range into Python. The one part
done in Python is telling fallbacks from retries, which needs each call's ``attempts_json``: it
reads only the requests with more than one attempt, streamed.

- ``alert_sums``: per alert kind, over the alerts raised in the range. An alert's *start* (its
  first affected record) is ``alerts.first_affected_at``, else the ``started_at`` of the monitor
  condition that raised it (``monitor_conditions.alert_id``), else, for an eval alert whose details
  name a run (``run_id``), that run's ``started_at``. Its *end* is ``alerts.resolved_at``, else the
  condition's ``resolved_at``, else the rollback of the canary a ``canary.rolled_back`` alert names
  (its ``canary_events`` row, action ``rollback``), else the first later ``<kind>.resolved`` alert
  (the monitor's own health). Alerts of severity ``info`` (``*.resolved``, ``canary.promoted``) are
  notices: counted, never timed, never open.
- ``availability``: per model group (``requests.model``) and per deployment (the one that answered,
  or the last one tried; ``NULL`` for requests refused before routing): requests, rejected (refused
  before any upstream was called, the rule of ``store/spend.py``'s ``outcome_index``), succeeded,
  succeeded at the first attempt, and the requests that took a fallback (a later attempt on another
  model group than the one before it) or a retry (a later attempt on the same group). An attempt
  recorded before attempts carried their group (``Attempt.group``) counts as a retry.
- ``canary_rows``: the canaries that started or ended in the range, or are still running, with the
  candidate arm's requests up to the decision (``ended_at``; for a running one, ``until`` or now).
- ``coverage``: requests in the range, monitor samples of those requests (``monitor_samples`` keeps
  the request's own time), and requests whose model had a scheduled eval run (``eval_runs``,
  ``trigger='schedule'``) started in the range.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, Engine

from llmgate.store.models import UTCDateTime, requests_table, table
from llmgate.store.spend import OUTCOMES, outcome_index

__all__ = [
    "AlertSums",
    "CanaryRow",
    "Coverage",
    "TrafficSums",
    "alert_sums",
    "availability",
    "canary_rows",
    "classify_attempts",
    "coverage",
]

#: how many requests with several attempts are read from the store at a time
_BATCH = 2000


@dataclass(frozen=True, slots=True)
class AlertSums:
    """One alert kind over a range; seconds are summed (the report takes the means)."""

    kind: str
    alerts: int
    notices: int  # severity info: counted, never timed
    detected: int  # incidents with a known start
    detect_s: float  # summed over ``detected``
    resolved: int  # incidents with a known end
    resolve_s: float  # summed over ``resolved``

    @property
    def incidents(self) -> int:
        return self.alerts - self.notices


@dataclass(slots=True)
class TrafficSums:
    """Requests of one model group or deployment (see the module docstring)."""

    requests: int = 0
    rejected: int = 0
    succeeded: int = 0
    first_try: int = 0  # succeeded at the first attempt
    with_fallback: int = 0
    with_retry: int = 0


@dataclass(frozen=True, slots=True)
class CanaryRow:
    id: str
    model: str
    status: str  # running | paused | promoted | rolled_back | cancelled
    percent: float
    started_at: datetime
    ended_at: datetime | None
    candidate: Any  # the decoded candidate_json
    candidate_requests: int  # to the decision (or to the end of the range while it runs)


@dataclass(frozen=True, slots=True)
class Coverage:
    requests: int
    sampled: int  # monitor samples of the range's requests
    eval_covered: int  # requests whose model had a scheduled eval run in the range
    eval_models: list[str] = field(default_factory=list)


# --- helpers -----------------------------------------------------------------------------------


def _in_range(column: Any, since: datetime, until: datetime | None) -> list[sa.ColumnElement[bool]]:
    out: list[sa.ColumnElement[bool]] = [column >= since]
    if until is not None:
        out.append(column < until)
    return out


def _seconds(dialect: str, later: Any, earlier: Any) -> sa.ColumnElement[Any]:
    """``later - earlier`` in seconds (never negative), to the millisecond on SQLite."""
    if dialect == "postgresql":
        span: sa.ColumnElement[Any] = sa.extract("epoch", later) - sa.extract("epoch", earlier)
    else:
        # julianday keeps milliseconds; as a double of days it drifts by ~10 µs, rounded off here
        span = sa.func.round((sa.func.julianday(later) - sa.func.julianday(earlier)) * 86400.0, 3)
    return sa.case((span < 0, 0.0), else_=span)


def _json_text(dialect: str, column: Any, key: str) -> sa.ColumnElement[Any]:
    """The text value at ``key`` of a JSON object kept as text (``NULL`` without it)."""
    if dialect == "postgresql":
        value: sa.ColumnElement[Any] = sa.cast(column, postgresql.JSON)[key].astext
        return value
    return sa.cast(sa.func.json_extract(column, sa.literal(f'$."{key}"', sa.String)), sa.Text)


# --- alerts ------------------------------------------------------------------------------------


def alert_sums(engine: Engine, since: datetime, until: datetime | None) -> list[AlertSums]:
    """Per alert kind raised in the range: counts and summed times to detect and to resolve."""
    dialect = engine.dialect.name
    alerts, conditions, runs = table("alerts"), table("monitor_conditions"), table("eval_runs")
    events, later = table("canary_events"), table("alerts").alias("later")
    run_id = _json_text(dialect, alerts.c.details_json, "run_id")
    canary_id = _json_text(dialect, alerts.c.details_json, "canary_id")
    rollback = (
        sa.select(sa.func.min(events.c.at))
        .where(events.c.action == "rollback", events.c.canary_id == canary_id)
        .scalar_subquery()
    )
    notice = (
        sa.select(sa.func.min(later.c.at))
        .where(later.c.kind == alerts.c.kind + ".resolved", later.c.at >= alerts.c.at)
        .scalar_subquery()
    )
    is_notice = alerts.c.severity == "info"
    start = sa.case(
        (is_notice, sa.null()),
        else_=sa.func.coalesce(alerts.c.first_affected_at, conditions.c.started_at, runs.c.started_at),
    )
    end = sa.case(
        (is_notice, sa.null()),
        else_=sa.func.coalesce(
            alerts.c.resolved_at,
            conditions.c.resolved_at,
            sa.case((alerts.c.kind == "canary.rolled_back", rollback), else_=sa.null()),
            notice,
        ),
    )
    joined = alerts.outerjoin(conditions, conditions.c.alert_id == alerts.c.id).outerjoin(
        runs, sa.and_(alerts.c.source == "eval", runs.c.id == run_id)
    )
    inner = (
        sa.select(
            alerts.c.kind.label("kind"),
            sa.case((is_notice, 1), else_=0).label("notice"),
            alerts.c.at.label("at"),
            start.label("start_at"),
            end.label("end_at"),
        )
        .select_from(joined)
        .where(*_in_range(alerts.c.at, since, until))
        .subquery("a")
    )
    detect = _seconds(dialect, inner.c.at, inner.c.start_at)
    resolve = _seconds(dialect, inner.c.end_at, inner.c.at)
    query = (
        sa.select(
            inner.c.kind,
            sa.func.count(),
            sa.func.sum(inner.c.notice),
            sa.func.count(inner.c.start_at),
            sa.func.sum(sa.case((inner.c.start_at.is_not(None), detect), else_=0.0)),
            sa.func.count(inner.c.end_at),
            sa.func.sum(sa.case((inner.c.end_at.is_not(None), resolve), else_=0.0)),
        )
        .group_by(inner.c.kind)
        .order_by(inner.c.kind)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        AlertSums(
            kind=str(kind),
            alerts=int(count),
            notices=int(notices or 0),
            detected=int(detected),
            detect_s=float(detect_s or 0),
            resolved=int(resolved),
            resolve_s=float(resolve_s or 0),
        )
        for kind, count, notices, detected, detect_s, resolved, resolve_s in rows
    ]


# --- availability, fallbacks and retries --------------------------------------------------------


def classify_attempts(attempts: list[dict[str, Any]]) -> tuple[bool, bool]:
    """(took a fallback, took a retry) for one call's attempts, in order: each attempt after the
    first is a fallback when its model group differs from the one before it, else a retry (an
    attempt without a group, from an older record, is taken to be on the same group)."""
    fallback = retry = False
    for before, after in pairwise(attempts):
        group_before, group_after = before.get("group") or "", after.get("group") or ""
        if group_before and group_after and group_before != group_after:
            fallback = True
        else:
            retry = True
    return fallback, retry


def availability(
    engine: Engine, since: datetime, until: datetime | None
) -> tuple[dict[str, TrafficSums], dict[str | None, TrafficSums]]:
    """Requests in the range per model group and per deployment (see the module docstring)."""
    requests = requests_table()
    where = _in_range(requests.c.created_at, since, until)
    by_group: dict[str, TrafficSums] = {}
    by_deployment: dict[str | None, TrafficSums] = {}
    with engine.connect() as conn:
        for column, out in ((requests.c.model, by_group), (requests.c.deployment, by_deployment)):
            for name, *counts in conn.execute(_counts(column, where)):
                out[name] = TrafficSums(*(int(c or 0) for c in counts))
        for model, deployment, attempts in _several_attempts(conn, where):
            fallback, retry = classify_attempts(attempts)
            for sums in (by_group.get(model), by_deployment.get(deployment)):
                if sums is not None:
                    sums.with_fallback += fallback
                    sums.with_retry += retry
    return by_group, by_deployment


def _counts(column: Any, where: list[sa.ColumnElement[bool]]) -> sa.Select[Any]:
    requests = requests_table()
    succeeded = requests.c.status == "success"
    outcome = outcome_index(requests.c.status, requests.c.status_code, requests.c.provider)
    rejected = outcome == OUTCOMES.index("rejected")
    first_try = sa.and_(succeeded, sa.func.coalesce(requests.c.attempts, 1) <= 1)
    return (
        sa.select(
            column,
            sa.func.count(),
            sa.func.sum(sa.case((rejected, 1), else_=0)),
            sa.func.sum(sa.case((succeeded, 1), else_=0)),
            sa.func.sum(sa.case((first_try, 1), else_=0)),
        )
        .where(*where)
        .group_by(column)
    )


def _several_attempts(
    conn: Connection, where: list[sa.ColumnElement[bool]]
) -> Iterator[tuple[str, str | None, list[dict[str, Any]]]]:
    """(model, deployment, attempts) of each request in range with more than one attempt, streamed."""
    requests = requests_table()
    query = sa.select(requests.c.model, requests.c.deployment, requests.c.attempts_json).where(
        *where, requests.c.attempts > 1, requests.c.attempts_json.is_not(None)
    )
    result = conn.execution_options(stream_results=True, yield_per=_BATCH).execute(query)
    for model, deployment, text in result:
        try:
            attempts = orjson.loads(text)
        except orjson.JSONDecodeError:
            continue
        if isinstance(attempts, list):
            yield model, deployment, [a for a in attempts if isinstance(a, dict)]


# --- canaries ----------------------------------------------------------------------------------


def canary_rows(engine: Engine, since: datetime, until: datetime | None) -> list[CanaryRow]:
    """Canaries that started or ended in the range, or were running at its end, oldest first."""
    canaries, requests = table("canaries"), requests_table()
    bound = until or datetime.now(UTC)
    decided_by = sa.func.coalesce(canaries.c.ended_at, sa.literal(bound, UTCDateTime()))
    candidate = (
        sa.select(sa.func.count())
        .where(
            requests.c.canary_id == canaries.c.id,
            requests.c.arm == "candidate",
            requests.c.created_at <= decided_by,
        )
        .scalar_subquery()
    )
    started = sa.and_(*_in_range(canaries.c.started_at, since, until))
    ended = sa.and_(*_in_range(canaries.c.ended_at, since, until))
    running = sa.and_(canaries.c.ended_at.is_(None), canaries.c.started_at < bound)
    query = (
        sa.select(
            canaries.c.id,
            canaries.c.model,
            canaries.c.status,
            canaries.c.percent,
            canaries.c.started_at,
            canaries.c.ended_at,
            canaries.c.candidate_json,
            candidate,
        )
        .where(sa.or_(started, ended, running))
        .order_by(canaries.c.started_at, canaries.c.id)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        CanaryRow(
            id=row[0],
            model=row[1],
            status=row[2],
            percent=float(row[3] or 0),
            started_at=row[4],
            ended_at=row[5],
            candidate=orjson.loads(row[6]) if row[6] else None,
            candidate_requests=int(row[7] or 0),
        )
        for row in rows
    ]


# --- monitoring coverage -----------------------------------------------------------------------


def coverage(engine: Engine, since: datetime, until: datetime | None) -> Coverage:
    """Requests in the range, how many the monitors sampled, how many a scheduled eval covered."""
    requests, samples, runs = requests_table(), table("monitor_samples"), table("eval_runs")
    scheduled = (
        sa.select(runs.c.model)
        .where(runs.c.trigger == "schedule", *_in_range(runs.c.started_at, since, until))
        .distinct()
    )
    in_range = _in_range(requests.c.created_at, since, until)
    with engine.connect() as conn:
        total = conn.execute(sa.select(sa.func.count()).where(*in_range)).scalar_one()
        sampled = conn.execute(
            sa.select(sa.func.count())
            .select_from(samples)
            .where(*_in_range(samples.c.created_at, since, until))
        ).scalar_one()
        covered = conn.execute(
            sa.select(sa.func.count()).where(*in_range, requests.c.model.in_(scheduled))
        ).scalar_one()
        models = sorted(str(m) for m in conn.execute(scheduled).scalars())
    return Coverage(int(total), int(sampled), int(covered), models)
