"""Queries of the live monitors: new records to sample, samples and their vectors, baselines,
statistics and conditions (tables in ``store/monitor_tables.py``).

Vectors are stored as raw little-endian float32 bytes; this module hands them back as bytes and
leaves numpy to the caller (the store layer does not import it).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from llmgate.store.models import requests_table, table

#: The columns of ``requests`` the monitor reads for a sampled record.
_RECORD_COLUMNS = (
    "id",
    "created_at",
    "model",
    "endpoint",
    "user",
    "status",
    "status_code",
    "error_type",
    "request_json",
    "response_text",
    "tool_calls_json",
    "finish_reason",
    "latency_ms",
    "prompt_tokens",
    "completion_tokens",
    "metadata_json",
)

#: Columns of ``monitor_samples`` without the vectors (reports that need no embeddings).
SAMPLE_FEATURES = (
    "record_id",
    "created_at",
    "model",
    "route",
    "prompt_excerpt",
    "response_chars",
    "refused",
    "finish_reason",
    "tool_call",
    "error",
    "latency_ms",
    "prompt_tokens",
    "completion_tokens",
    "context_relevance",
    "groundedness",
    "answer_relevance",
    "rag_json",
)


# --- reading new records -----------------------------------------------------------------------


def candidate_records(
    engine: Engine, *, after: datetime, until: datetime, routes: Sequence[str], limit: int
) -> list[tuple[str, datetime, str, str | None]]:
    """(id, created_at, model, user) of records in (after, until] on ``routes``, oldest first."""
    r = requests_table()
    query = (
        sa.select(r.c.id, r.c.created_at, r.c.model, r.c.user)
        .where(r.c.created_at > after, r.c.created_at <= until, r.c.endpoint.in_(list(routes)))
        .order_by(r.c.created_at, r.c.id)
        .limit(limit)
    )
    with engine.connect() as conn:
        return [(row.id, row.created_at, row.model, row.user) for row in conn.execute(query)]


def already_sampled(engine: Engine, ids: Sequence[str]) -> set[str]:
    """Which of ``ids`` have a sample already."""
    if not ids:
        return set()
    s = table("monitor_samples")
    found: set[str] = set()
    with engine.connect() as conn:
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            found.update(conn.execute(sa.select(s.c.record_id).where(s.c.record_id.in_(chunk))).scalars())
    return found


def fetch_records(engine: Engine, ids: Sequence[str]) -> list[dict[str, Any]]:
    """The monitor's columns of the records ``ids``, oldest first."""
    if not ids:
        return []
    r = requests_table()
    columns = [r.c[name] for name in _RECORD_COLUMNS]
    rows: list[dict[str, Any]] = []
    with engine.connect() as conn:
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            rows += [dict(row._mapping) for row in conn.execute(sa.select(*columns).where(r.c.id.in_(chunk)))]
    rows.sort(key=lambda row: (row["created_at"], row["id"]))
    return rows


# --- samples -----------------------------------------------------------------------------------


def insert_samples(engine: Engine, rows: Sequence[dict[str, Any]]) -> int:
    """Store samples; a record already sampled (another worker got there first) is skipped.

    Rows may carry different columns (a plain request has no retrieval-quality scores): each is
    filled out to the same columns, with the column's default (NULL for the scores), because an
    executemany takes its columns from the first row and would drop or demand the others."""
    if not rows:
        return 0
    s = table("monitor_samples")
    names = [c.name for c in s.columns if any(c.name in row for row in rows)]
    with engine.begin() as conn:
        existing = set(
            conn.execute(
                sa.select(s.c.record_id).where(s.c.record_id.in_([row["record_id"] for row in rows]))
            ).scalars()
        )
        fresh = [
            {name: row[name] if name in row else _default(s.c[name]) for name in names}
            for row in rows
            if row["record_id"] not in existing
        ]
        if fresh:
            conn.execute(sa.insert(s), fresh)
    return len(fresh)


def _default(column: sa.Column[Any]) -> Any:
    """A column's scalar default (``refused`` False), else None (NULL)."""
    default = column.default
    return getattr(default, "arg", None) if default is not None and default.is_scalar else None


def sample_groups(engine: Engine) -> list[tuple[str, str, int, datetime]]:
    """(model, route, samples, newest created_at) of every monitored model and route."""
    s = table("monitor_samples")
    query = sa.select(s.c.model, s.c.route, sa.func.count(), sa.func.max(s.c.created_at)).group_by(
        s.c.model, s.c.route
    )
    with engine.connect() as conn:
        return sorted((m, r, int(n), newest) for m, r, n, newest in conn.execute(query))


def window_samples(
    engine: Engine,
    model: str,
    route: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    first: int | None = None,
    last: int | None = None,
    vectors: bool = True,
    where_vector: bool = True,
) -> list[dict[str, Any]]:
    """Samples of a model and route in [since, until], oldest first; ``first``/``last`` N of them.

    ``vectors`` adds ``prompt_vector`` and ``response_vector`` (bytes); ``where_vector`` keeps only
    samples with a prompt vector."""
    s = table("monitor_samples")
    columns = [s.c[name] for name in SAMPLE_FEATURES]
    if vectors:
        columns += [s.c.prompt_vector, s.c.response_vector, s.c.dim]
    query = sa.select(*columns).where(s.c.model == model, s.c.route == route)
    if where_vector:
        query = query.where(s.c.prompt_vector.is_not(None))
    if since is not None:
        query = query.where(s.c.created_at >= since)
    if until is not None:
        query = query.where(s.c.created_at <= until)
    if last is not None:
        query = query.order_by(s.c.created_at.desc(), s.c.record_id.desc()).limit(last)
    else:
        query = query.order_by(s.c.created_at, s.c.record_id)
        if first is not None:
            query = query.limit(first)
    with engine.connect() as conn:
        rows = [dict(row._mapping) for row in conn.execute(query)]
    if last is not None:
        rows.reverse()
    return rows


def rag_samples(
    engine: Engine, *, model: str | None = None, since: datetime | None = None, limit: int = 5000
) -> list[dict[str, Any]]:
    """Samples that carried retrieved context (their three scores set), newest first."""
    s = table("monitor_samples")
    columns = [s.c[name] for name in SAMPLE_FEATURES]
    query = sa.select(*columns).where(s.c.groundedness.is_not(None))
    if model is not None:
        query = query.where(s.c.model == model)
    if since is not None:
        query = query.where(s.c.created_at >= since)
    query = query.order_by(s.c.created_at.desc(), s.c.record_id.desc()).limit(limit)
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


def delete_samples_before(engine: Engine, before: datetime) -> int:
    """Forget samples of requests older than ``before`` (retention); returns how many."""
    s = table("monitor_samples")
    with engine.begin() as conn:
        return int(conn.execute(sa.delete(s).where(s.c.created_at < before)).rowcount or 0)


# --- baselines ---------------------------------------------------------------------------------


def set_baseline(
    engine: Engine, model: str, route: str, since: datetime, until: datetime, now: datetime
) -> None:
    """Pin [since, until] as the reference window of ``model`` on ``route`` (``*``: every route)."""
    b = table("drift_baselines")
    with engine.begin() as conn:
        conn.execute(sa.delete(b).where(b.c.model == model, b.c.route == route))
        conn.execute(sa.insert(b).values(model=model, route=route, since=since, until=until, set_at=now))


def clear_baseline(engine: Engine, model: str, route: str) -> bool:
    """Unpin a baseline (the first N samples become the reference again); True if there was one."""
    b = table("drift_baselines")
    with engine.begin() as conn:
        return bool(conn.execute(sa.delete(b).where(b.c.model == model, b.c.route == route)).rowcount)


def baselines(engine: Engine) -> list[dict[str, Any]]:
    """Every pinned baseline."""
    b = table("drift_baselines")
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(sa.select(b).order_by(b.c.model, b.c.route))]


def count_samples(engine: Engine, model: str, route: str | None, since: datetime, until: datetime) -> int:
    """Samples with a prompt vector of a model (and route) in [since, until]."""
    s = table("monitor_samples")
    query = (
        sa.select(sa.func.count())
        .select_from(s)
        .where(
            s.c.model == model,
            s.c.created_at >= since,
            s.c.created_at <= until,
            s.c.prompt_vector.is_not(None),
        )
    )
    if route is not None:
        query = query.where(s.c.route == route)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


# --- statistics --------------------------------------------------------------------------------


def insert_stats(engine: Engine, rows: Sequence[dict[str, Any]]) -> None:
    """Store one evaluation's statistics (``details`` is serialised to JSON)."""
    if not rows:
        return
    m = table("monitor_stats")
    values = []
    for row in rows:
        row = dict(row)
        row["details_json"] = json.dumps(row.pop("details", None) or {}, default=str, sort_keys=True)
        values.append(row)
    with engine.begin() as conn:
        conn.execute(sa.insert(m), values)


def latest_stats(engine: Engine, *, model: str | None = None) -> list[dict[str, Any]]:
    """The most recent evaluation's statistics of each model and route."""
    m = table("monitor_stats")
    newest = sa.select(m.c.model, m.c.route, m.c.kind, sa.func.max(m.c.at).label("at")).group_by(
        m.c.model, m.c.route, m.c.kind
    )
    if model is not None:
        newest = newest.where(m.c.model == model)
    sub = newest.subquery()
    query = (
        sa.select(m)
        .join(
            sub,
            sa.and_(
                m.c.model == sub.c.model, m.c.route == sub.c.route, m.c.kind == sub.c.kind, m.c.at == sub.c.at
            ),
        )
        .order_by(m.c.model, m.c.route, m.c.kind, m.c.id)
    )
    with engine.connect() as conn:
        return _decoded(conn.execute(query))


def stats_history(
    engine: Engine, *, model: str | None = None, since: datetime | None = None, limit: int = 5000
) -> list[dict[str, Any]]:
    """Statistics over time (oldest first), for charts."""
    m = table("monitor_stats")
    query = sa.select(m).order_by(m.c.at.desc(), m.c.id.desc()).limit(limit)
    if model is not None:
        query = query.where(m.c.model == model)
    if since is not None:
        query = query.where(m.c.at >= since)
    with engine.connect() as conn:
        rows = _decoded(conn.execute(query))
    rows.reverse()
    return rows


def _decoded(result: Iterable[Any]) -> list[dict[str, Any]]:
    rows = []
    for row in result:
        item = dict(row._mapping)
        item["details"] = json.loads(item.pop("details_json") or "{}")
        rows.append(item)
    return rows


# --- conditions (alert deduplication) -----------------------------------------------------------


def conditions(engine: Engine, *, active: bool | None = None, limit: int = 500) -> list[dict[str, Any]]:
    """Conditions, newest first (``active``: only open or only resolved ones)."""
    c = table("monitor_conditions")
    query = sa.select(c).order_by(c.c.raised_at.desc(), c.c.id.desc()).limit(limit)
    if active is not None:
        query = query.where(c.c.active == active)
    with engine.connect() as conn:
        return _decoded(conn.execute(query))


def open_condition(engine: Engine, values: dict[str, Any]) -> int:
    """Insert an active condition; returns its id."""
    c = table("monitor_conditions")
    row = dict(values)
    row["details_json"] = json.dumps(row.pop("details", None) or {}, default=str, sort_keys=True)
    with engine.begin() as conn:
        key = conn.execute(sa.insert(c).values(**row)).inserted_primary_key
    assert key is not None
    return int(key[0])


def update_condition(engine: Engine, condition_id: int, **values: Any) -> None:
    """Change a condition (its clean streak, alert id, or resolution)."""
    c = table("monitor_conditions")
    if "details" in values:
        values["details_json"] = json.dumps(values.pop("details") or {}, default=str, sort_keys=True)
    with engine.begin() as conn:
        conn.execute(sa.update(c).where(c.c.id == condition_id).values(**values))


# --- the worker's progress ---------------------------------------------------------------------


def load_state(engine: Engine, name: str) -> dict[str, Any] | None:
    """A JSON value the worker saved under ``name``."""
    st = table("monitor_state")
    with engine.connect() as conn:
        value = conn.execute(sa.select(st.c.value_json).where(st.c.name == name)).scalar_one_or_none()
    return json.loads(value) if value else None


def save_state(engine: Engine, name: str, value: dict[str, Any], now: datetime) -> None:
    """Save a JSON value under ``name`` (replacing the previous one)."""
    st = table("monitor_state")
    text = json.dumps(value, default=str, sort_keys=True)
    with engine.begin() as conn:
        _replace(conn, st, name, text, now)


def _replace(conn: Connection, st: sa.Table, name: str, text: str, now: datetime) -> None:
    updated = conn.execute(sa.update(st).where(st.c.name == name).values(value_json=text, updated_at=now))
    if not updated.rowcount:
        conn.execute(sa.insert(st).values(name=name, value_json=text, updated_at=now))
