"""Retention: deleting what ``llmgate.retention`` no longer keeps, in bounded batches.

``prune(engine, settings)`` works through ``PLAN``: for each kind whose age limit is set, every row
(or, for ``bodies``, every content column) older than ``now - age`` goes, ``batch_size`` rows per
transaction: ``DELETE ... WHERE pk IN (SELECT pk ... WHERE time < cutoff ORDER BY time LIMIT n)``,
found through the table's index on its time column. On PostgreSQL, ``requests`` is partitioned by
month (``store/partitions.py``): every month wholly before the cutoff is dropped as a table, and
only the month the cutoff falls in is deleted from in batches. A transaction is short, so on SQLite the
gateway's writer never waits longer than one batch: between batches the pruner pauses (SQLite's
busy handler is not fair: a waiting writer must get its turn). On PostgreSQL nothing is ever
locked but the rows of the batch itself.

Bodies go in place: ``UPDATE ... SET request_json = NULL, ...`` by keyset (``created_at`` from
where the last batch ended), so a run reads each row once; a kept Responses API response with
content is deleted (it is nothing but content), one the deployment keeps stays until ``requests``.
Rows go before bodies, so a row about to be deleted is never blanked first.

Never touched: datasets, keys, teams, users, alerts, canaries; a drift baseline's
monitor samples; a baseline eval run. ``dry_run`` counts what would go and changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from llmgate.config.retention_settings import RetentionSettings
from llmgate.config.time_range import duration_text
from llmgate.store.db import lacks_table
from llmgate.store.models import table
from llmgate.store.partitions import PARTITIONED, drop_before, ensure_ahead

__all__ = ["BODY_COLUMNS", "PLAN", "PruneResult", "prune"]

#: the columns that hold content, per table: blanked once ``bodies`` is past
BODY_COLUMNS: dict[str, tuple[str, ...]] = {
    "requests": ("request_json", "response_text", "tool_calls_json"),
    "monitor_samples": ("prompt_excerpt", "rag_json"),
}
#: SQLite: the pause between two batches is the batch's own time, within these bounds, so that a
#: writer sleeping in SQLite's busy handler (which sleeps longer the longer it has waited, at most
#: 100 ms at a time) wakes to a free database before the next batch
_PAUSE_S = (0.02, 0.11)


@dataclass
class PruneResult:
    """What one step of the plan did (or, in a dry run, would do)."""

    kind: str  # the llmgate.retention key
    table: str
    what: str  # rows | bodies
    cutoff: datetime
    count: int = 0
    batches: int = 0
    seconds: float = 0.0
    partitions: int = 0  # PostgreSQL: whole months dropped (store/partitions.py)

    def line(self, *, dry_run: bool = False) -> str:
        """``requests: 8,000 rows deleted (older than 2026-10-06 20:51 UTC) in 9 batches, 0.6 s``."""
        noun = "rows" if self.what == "rows" else "bodies"
        older = f"older than {self.cutoff.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
        if dry_run:
            verb = "would be blanked" if self.what == "bodies" else "would be deleted"
            return f"{self.table}: {self.count:,} {noun} {verb} ({older})"
        verb = "blanked" if self.what == "bodies" else "deleted"
        batches = f"{self.batches} batch{'es' if self.batches != 1 else ''}"
        if self.partitions:
            months = f"{self.partitions} month{'s' if self.partitions != 1 else ''}"
            batches = f"{months} dropped whole and {batches}"
        took = duration_text(self.seconds)
        return f"{self.table}: {self.count:,} {noun} {verb} ({older}) in {batches}, {took}"


@dataclass(frozen=True)
class _Step:
    kind: str
    table: str
    what: str  # rows: delete | bodies: blank BODY_COLUMNS | content: delete rows with content
    time_column: str
    keep: Callable[[sa.Table], list[sa.ColumnElement[bool]]] = lambda t: []


def _with_content(t: sa.Table) -> list[sa.ColumnElement[bool]]:
    return [sa.or_(t.c.input_json.is_not(None), t.c.response_json.is_not(None))]


def _outside_baselines(t: sa.Table) -> list[sa.ColumnElement[bool]]:
    b = table("drift_baselines")
    inside = (
        sa.select(sa.literal(1))
        .where(
            b.c.model == t.c.model,
            b.c.route == t.c.route,
            t.c.created_at >= b.c.since,
            t.c.created_at < b.c.until,
        )
        .exists()
    )
    return [~inside]


def _not_baseline(t: sa.Table) -> list[sa.ColumnElement[bool]]:
    baselines = sa.select(table("eval_baselines").c.run_id)
    return [t.c.id.not_in(baselines), t.c.status != "running"]


def _of_old_runs(cutoff: datetime) -> Callable[[sa.Table], list[sa.ColumnElement[bool]]]:
    def keep(t: sa.Table) -> list[sa.ColumnElement[bool]]:
        runs = table("eval_runs")
        old = sa.select(runs.c.id).where(runs.c.started_at < cutoff, *_not_baseline(runs))
        return [t.c.run_id.in_(old)]

    return keep


#: what prune does, in order: rows before bodies; eval results before their runs
PLAN: tuple[_Step, ...] = (
    _Step("requests", "requests", "rows", "created_at"),
    _Step("requests", "stored_responses", "rows", "created_at"),
    _Step("bodies", "requests", "bodies", "created_at"),
    _Step("bodies", "stored_responses", "content", "created_at", _with_content),
    _Step("monitor_samples", "monitor_samples", "rows", "created_at", _outside_baselines),
    _Step("monitor_samples", "monitor_stats", "rows", "at"),
    _Step("bodies", "monitor_samples", "bodies", "created_at"),
    _Step("eval_results", "eval_results", "rows", ""),  # by its run's started_at
    _Step("eval_results", "eval_runs", "rows", "started_at", _not_baseline),
    _Step("audit_log", "audit_log", "rows", "at"),
    _Step("scores", "scores", "rows", "updated_at"),
)


def prune(
    engine: Engine,
    settings: RetentionSettings,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    stop: Callable[[], bool] = lambda: False,
    bodies_from: datetime | None = None,
) -> list[PruneResult]:
    """Delete (or, ``dry_run``, count) what ``settings`` no longer keeps; one result per step of
    ``PLAN`` whose kind has an age limit. ``stop`` is asked between batches (a stopping server);
    ``bodies_from``: bodies older than this are known blank already (the job's previous cutoff)."""
    now = now or datetime.now(UTC)
    if not dry_run:
        ensure_ahead(engine, now)  # PostgreSQL: the coming months' partitions, before they are needed
    ages = settings.ages()
    results: list[PruneResult] = []
    for step in PLAN:
        age = ages[step.kind]
        if age is None or lacks_table(engine, step.table):
            continue
        cutoff = now - age
        result = PruneResult(step.kind, step.table, "bodies" if step.what == "bodies" else "rows", cutoff)
        started = time.perf_counter()
        rows_age = ages.get(step.table)  # bodies: the rows' own limit (older rows are deleted)
        floor = now - rows_age if step.what == "bodies" and rows_age is not None else None
        if dry_run:
            result.count = _count(engine, step, cutoff, floor)
        elif step.what == "bodies":
            _blank(engine, step, cutoff, settings.batch_size, result, stop, bodies_from)
        else:
            _delete(engine, step, cutoff, settings.batch_size, result, stop)
        result.seconds = time.perf_counter() - started
        results.append(result)
        if stop():
            break
    return results


def _where(step: _Step, t: sa.Table, cutoff: datetime) -> list[sa.ColumnElement[bool]]:
    if step.table == "eval_results":
        return _of_old_runs(cutoff)(t)
    return [t.c[step.time_column] < cutoff, *step.keep(t)]


def _pk(t: sa.Table) -> sa.Column[Any]:
    (pk,) = t.primary_key.columns
    return pk


def _picked(
    engine: Engine, t: sa.Table, where: list[sa.ColumnElement[bool]], order: sa.ColumnElement[Any], n: int
) -> sa.ColumnElement[bool]:
    """The batch: the first ``n`` rows by ``order`` that match ``where``, by primary key. A table
    partitioned by its time (PostgreSQL's ``requests``) is matched on (key, time), so each row is
    looked for in its own month's partition only."""
    pk = _pk(t)
    if engine.dialect.name == "postgresql" and t.name in PARTITIONED:
        keys = sa.tuple_(pk, order)
        return keys.in_(sa.select(pk, order).where(*where).order_by(order).limit(n))
    return pk.in_(sa.select(pk).where(*where).order_by(order).limit(n))


def _count(engine: Engine, step: _Step, cutoff: datetime, floor: datetime | None) -> int:
    t = table(step.table)
    where = _where(step, t, cutoff)
    if step.what == "bodies":
        where.append(_has_body(t))
        if floor is not None:  # rows the rows' step deletes are not blanked first
            rows = next(s for s in PLAN if s.table == step.table and s.what == "rows")
            where.append(sa.not_(sa.and_(*_where(rows, t, floor))))
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(t).where(*where)).scalar_one())


def _has_body(t: sa.Table) -> sa.ColumnElement[bool]:
    return sa.or_(*(t.c[name].is_not(None) for name in BODY_COLUMNS[t.name]))


def _delete(
    engine: Engine, step: _Step, cutoff: datetime, n: int, result: PruneResult, stop: Callable[[], bool]
) -> None:
    if step.table in PARTITIONED and step.what == "rows":  # PostgreSQL: whole months first
        dropped = drop_before(engine, cutoff, step.table)
        result.count += sum(month.rows for month in dropped)
        result.partitions = len(dropped)
    t = table(step.table)
    pk = _pk(t)
    order = t.c[step.time_column] if step.time_column else pk
    statement = sa.delete(t).where(_picked(engine, t, _where(step, t, cutoff), order, n))
    while True:
        began = time.perf_counter()
        with engine.begin() as conn:
            deleted = conn.execute(statement).rowcount
        _after_batch(engine, result, deleted, began)
        if deleted < n or stop():
            return


def _blank(
    engine: Engine,
    step: _Step,
    cutoff: datetime,
    n: int,
    result: PruneResult,
    stop: Callable[[], bool],
    start: datetime | None,
) -> None:
    t = table(step.table)
    when = t.c[step.time_column]
    blank = dict.fromkeys(BODY_COLUMNS[step.table])
    while True:
        where = [when < cutoff, _has_body(t)]
        if start is not None:
            where.append(when >= start)
        statement = sa.update(t).where(_picked(engine, t, where, when, n)).values(blank).returning(when)
        began = time.perf_counter()
        with engine.begin() as conn:
            moments: Sequence[datetime] = conn.execute(statement).scalars().all()
        _after_batch(engine, result, len(moments), began)
        if len(moments) < n or stop():
            return
        start = max(moments)  # the next batch starts where this one ended (ties: the body test)


def _after_batch(engine: Engine, result: PruneResult, count: int, began: float) -> None:
    result.count += count
    result.batches += 1
    if engine.dialect.name == "sqlite" and count:
        time.sleep(min(_PAUSE_S[1], max(_PAUSE_S[0], time.perf_counter() - began)))
