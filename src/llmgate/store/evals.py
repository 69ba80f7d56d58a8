"""Queries on ``eval_runs``, ``eval_results`` and ``eval_baselines``: what the eval runner stores
and what ``llmgate eval list|show|compare|baseline`` and the scheduler read back.

Rows travel as plain dicts keyed by column name (see ``store/models.py``), with tz-aware UTC
datetimes and exact ``Decimal`` costs. A run is inserted when it starts (``status='running'``,
so a scheduler can see it is under way) and finished in one transaction that writes its results
and its final counts. Callers bring the schema up to date first (``ensure_schema``).
Errors: ``StoreError`` when the store cannot take or answer the statement.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from llmgate.errors import StoreError
from llmgate.store.db import describe_error
from llmgate.store.migrate import upgrade
from llmgate.store.models import row_defaults, table


class AmbiguousRun(LookupError):
    """A run id prefix that matches several runs."""


def _runs() -> sa.Table:
    return table("eval_runs")


def _results() -> sa.Table:
    return table("eval_results")


def _baselines() -> sa.Table:
    return table("eval_baselines")


def ensure_schema(engine: Engine) -> None:
    """Migrate the store to the newest schema unless it is there already.

    ``upgrade`` checks the revision first, without alembic, so that a store at head is never
    handed to alembic again (alembic's migration context is process-global, and an in-process
    gateway may be migrating its own store from another thread at the same moment) and a command
    that reads the store does not pay for importing it.
    """

    upgrade(engine)


def insert_run(engine: Engine, run: Mapping[str, Any]) -> None:
    """Store a new run (usually ``status='running'``, no results yet)."""
    _write(engine, [sa.insert(_runs()).values(**run)])


def finish_run(
    engine: Engine, run_id: str, values: Mapping[str, Any], results: Sequence[Mapping[str, Any]]
) -> None:
    """Write a run's results and its final columns (status, counts, cost, ...) in one transaction."""
    statements: list[sa.Executable | tuple[sa.Executable, list[dict[str, Any]]]] = []
    if results:
        # executemany needs the same keys in every row: fill the missing ones with the defaults
        names = set().union(*(row.keys() for row in results)) | {"run_id"}
        every, _ = row_defaults(_results())
        defaults = {name: every[name] for name in names if name in every}
        rows = [{**defaults, **row, "run_id": run_id} for row in results]
        statements.append((sa.insert(_results()), rows))
    statements.append(sa.update(_runs()).where(_runs().c.id == run_id).values(**values))
    _write(engine, statements)


def list_runs(
    engine: Engine,
    *,
    suite: str | None = None,
    model: str | None = None,
    limit: int = 50,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[dict[str, Any]]:
    """Runs, newest first, optionally of one suite and/or model, started in [since, until)."""
    runs = _runs()
    query = sa.select(runs).order_by(runs.c.started_at.desc(), runs.c.id.desc()).limit(max(0, limit))
    if suite is not None:
        query = query.where(runs.c.suite == suite)
    if model is not None:
        query = query.where(runs.c.model == model)
    if since is not None:
        query = query.where(runs.c.started_at >= since)
    if until is not None:
        query = query.where(runs.c.started_at < until)
    return _fetch(engine, query)


def get_run(engine: Engine, run_id: str) -> dict[str, Any] | None:
    """The run with exactly this id, or ``None``."""
    rows = _fetch(engine, sa.select(_runs()).where(_runs().c.id == run_id))
    return rows[0] if rows else None


def find_run(engine: Engine, ref: str) -> dict[str, Any] | None:
    """The run whose id is ``ref`` or starts with it; ``AmbiguousRun`` if a prefix matches several."""
    exact = get_run(engine, ref)
    if exact is not None or not ref:
        return exact
    runs = _runs()
    escaped = ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = _fetch(engine, sa.select(runs).where(runs.c.id.like(escaped + "%", escape="\\")).limit(2))
    if len(rows) > 1:
        raise AmbiguousRun(f"run id prefix {ref!r} matches several runs: give more characters")
    return rows[0] if rows else None


def get_results(engine: Engine, run_id: str) -> list[dict[str, Any]]:
    """A run's results in the order they were stored (case order, then repetition)."""
    results = _results()
    return _fetch(engine, sa.select(results).where(results.c.run_id == run_id).order_by(results.c.id))


def set_baseline(engine: Engine, suite: str, model: str, run_id: str, *, at: datetime | None = None) -> None:
    """Make ``run_id`` the baseline of ``suite`` on ``model`` (replacing any earlier one)."""
    baselines = _baselines()
    where = sa.and_(baselines.c.suite == suite, baselines.c.model == model)
    _write(
        engine,
        [
            sa.delete(baselines).where(where),
            sa.insert(baselines).values(
                suite=suite, model=model, run_id=run_id, set_at=at or datetime.now(UTC)
            ),
        ],
    )


def get_baseline(engine: Engine, suite: str, model: str) -> dict[str, Any] | None:
    """The baseline row (suite, model, run_id, set_at) of ``suite`` on ``model``, or ``None``."""
    baselines = _baselines()
    rows = _fetch(engine, sa.select(baselines).where(baselines.c.suite == suite, baselines.c.model == model))
    return rows[0] if rows else None


def list_baselines(engine: Engine) -> list[dict[str, Any]]:
    """Every baseline, by suite and model."""
    baselines = _baselines()
    return _fetch(engine, sa.select(baselines).order_by(baselines.c.suite, baselines.c.model))


def latest_runs(
    engine: Engine, *, suite: str | None = None, model: str | None = None, finished_only: bool = True
) -> list[dict[str, Any]]:
    """The newest run of each (suite, model), optionally only finished ones, by suite and model."""
    runs = _runs()
    newest = sa.select(
        runs.c.suite, runs.c.model, sa.func.max(runs.c.started_at).label("started_at")
    ).group_by(runs.c.suite, runs.c.model)
    if finished_only:
        newest = newest.where(runs.c.status != "running")
    if suite is not None:
        newest = newest.where(runs.c.suite == suite)
    if model is not None:
        newest = newest.where(runs.c.model == model)
    latest = newest.subquery()
    query = (
        sa.select(runs)
        .join(
            latest,
            sa.and_(
                runs.c.suite == latest.c.suite,
                runs.c.model == latest.c.model,
                runs.c.started_at == latest.c.started_at,
            ),
        )
        .order_by(runs.c.suite, runs.c.model, runs.c.id)
    )
    if finished_only:
        query = query.where(runs.c.status != "running")
    rows = _fetch(engine, query)
    unique: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:  # two runs started in the same microsecond: keep one
        unique.setdefault((row["suite"], row["model"]), row)
    return list(unique.values())


def running_runs(engine: Engine, *, suite: str | None = None) -> list[dict[str, Any]]:
    """Runs still marked ``running`` (one under way, or one whose process died)."""
    runs = _runs()
    query = sa.select(runs).where(runs.c.status == "running").order_by(runs.c.started_at)
    if suite is not None:
        query = query.where(runs.c.suite == suite)
    return _fetch(engine, query)


# --- internals ------------------------------------------------------------------------------


def _fetch(engine: Engine, query: sa.Select[Any]) -> list[dict[str, Any]]:
    try:
        with engine.connect() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]
    except (SQLAlchemyError, OSError) as exc:
        raise StoreError(f"store read failed: {describe_error(exc)}") from exc


def _write(
    engine: Engine, statements: Sequence[sa.Executable | tuple[sa.Executable, list[dict[str, Any]]]]
) -> None:
    """Run ``statements`` (each alone, or with a list of parameter rows) in one transaction."""
    try:
        with engine.begin() as conn:
            for statement in statements:
                if isinstance(statement, tuple):
                    conn.execute(statement[0], statement[1])
                else:
                    conn.execute(statement)
    except (SQLAlchemyError, OSError) as exc:
        raise StoreError(f"store write failed: {describe_error(exc)}") from exc
