"""The evidence a canary's gates read: its requests and the monitor's samples of them, page by page.

``evidence_rows`` and ``quality_rows`` page through a canary's requests (``requests.canary_id``,
read through the partial index ``ix_requests_canary``) and the monitor samples taken of them
(through ``ix_monitor_samples_sampled_at``) with a cursor, the last row's (time, id): a reader
takes each row once, however many rows share a time. Plain dicts out; a store failure is
``StoreError``. ``store/canaries.py`` offers these functions with the canaries' own.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from llmgate.errors import StoreError
from llmgate.store.db import describe_error
from llmgate.store.models import UTCDateTime, requests_table, table

#: how much of a response ``evidence_rows`` returns (refusal checks need the start only)
EVIDENCE_TEXT_CHARS = 2000
#: where a reader stands: the last row's time and id
Cursor = tuple[datetime, str]


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A connection to read on; a store failure is ``StoreError``."""
    try:
        with engine.connect() as conn:
            yield conn
    except SQLAlchemyError as exc:
        raise StoreError(f"store read failed: {describe_error(exc)}") from exc


def _after(time_col: sa.ColumnElement[Any], id_col: sa.ColumnElement[Any], after: Cursor) -> Any:
    """Rows past the cursor in (time, id) order: a row value comparison, on both stores."""
    bound = sa.tuple_(sa.bindparam(None, after[0], type_=UTCDateTime()), sa.bindparam(None, after[1]))
    return sa.tuple_(time_col, id_col) > bound


def evidence_rows(
    engine: Engine,
    canary_id: str,
    after: Cursor | None,
    limit: int = 5000,
    *,
    until: datetime | None = None,
    ids: Collection[str] | None = None,
) -> tuple[list[dict[str, Any]], Cursor | None]:
    """The canary's requests after the cursor, in (created_at, id) order, at most ``limit``
    (created before ``until`` when given: a reader may leave the last moments to writes still on
    their way; only those of ``ids`` when given: rows ``evidence_ids`` found written late), and the
    cursor to pass next (``after`` itself when there were none). Keys: id,
    created_at, arm, status, status_code, attempts, latency_ms, ttft_ms, stream, cost_usd (float or
    None), response_chars, finish_reason, response_text (its first ``EVIDENCE_TEXT_CHARS``)."""
    r = requests_table()
    query = (
        sa.select(
            r.c.id,
            r.c.created_at,
            r.c.arm,
            r.c.status,
            r.c.status_code,
            r.c.attempts,
            r.c.latency_ms,
            r.c.ttft_ms,
            r.c.stream,
            r.c.cost_usd,
            r.c.response_chars,
            r.c.finish_reason,
            r.c.response_text,  # packed (store/bodies.py): cut once read
        )
        .where(r.c.canary_id == canary_id)
        .order_by(r.c.created_at, r.c.id)
        .limit(max(0, limit))
    )
    if after is not None:
        query = query.where(_after(r.c.created_at, r.c.id, after))
    if until is not None:
        query = query.where(r.c.created_at < until)
    if ids is not None:
        query = query.where(r.c.id.in_(list(ids)))
    with reading(engine) as conn:
        rows = [dict(m) for m in conn.execute(query).mappings()]
    for row in rows:
        row["cost_usd"] = float(row["cost_usd"]) if row["cost_usd"] is not None else None
        if row["response_text"] is not None:
            row["response_text"] = row["response_text"][:EVIDENCE_TEXT_CHARS]
    return rows, ((rows[-1]["created_at"], rows[-1]["id"]) if rows else after)


def evidence_ids(engine: Engine, canary_id: str, since: datetime, until: datetime) -> list[str]:
    """The ids of the canary's requests created in ``[since, until)``: a reader that went past that
    window finds the rows written after it did (a slow call is recorded when it ends, long after
    it started) and reads only those with ``evidence_rows(..., ids=...)``."""
    r = requests_table()
    query = sa.select(r.c.id).where(
        r.c.canary_id == canary_id, r.c.created_at >= since, r.c.created_at < until
    )
    with reading(engine) as conn:
        return [str(found) for found in conn.execute(query).scalars()]


def quality_rows(
    engine: Engine, canary_id: str, after: Cursor | None, limit: int = 5000
) -> tuple[list[dict[str, Any]], Cursor | None]:
    """The monitor's samples of the canary's requests taken after the cursor, in (sampled_at,
    record_id) order, at most ``limit``, and the next cursor. Keys: record_id, sampled_at, arm,
    groundedness, context_relevance, answer_relevance, response_vector (float32 bytes or None), dim."""
    s, r = table("monitor_samples"), requests_table()
    query = (
        sa.select(
            s.c.record_id,
            s.c.sampled_at,
            r.c.arm,
            s.c.groundedness,
            s.c.context_relevance,
            s.c.answer_relevance,
            s.c.response_vector,
            s.c.dim,
        )
        .select_from(s.join(r, r.c.id == s.c.record_id))
        .where(r.c.canary_id == canary_id)
        .order_by(s.c.sampled_at, s.c.record_id)
        .limit(max(0, limit))
    )
    if after is not None:
        query = query.where(_after(s.c.sampled_at, s.c.record_id, after))
    with reading(engine) as conn:
        rows = [dict(m) for m in conn.execute(query).mappings()]
    for row in rows:
        if row["response_vector"] is not None:
            row["response_vector"] = bytes(row["response_vector"])  # psycopg: memoryview
    return rows, ((rows[-1]["sampled_at"], rows[-1]["record_id"]) if rows else after)


def arm_counts(engine: Engine, canary_id: str, *, since: datetime | None = None) -> dict[str, int]:
    """How many of the canary's requests each arm took (from ``since``, inclusive, when given)."""
    r = requests_table()
    query = sa.select(r.c.arm, sa.func.count()).where(r.c.canary_id == canary_id).group_by(r.c.arm)
    if since is not None:
        query = query.where(r.c.created_at >= since)
    with reading(engine) as conn:
        return {str(arm): int(n) for arm, n in conn.execute(query)}
