"""The rollups' upkeep: request rows summed into their hour and day groups by the database.

``upsert_ids`` (the writer, in the transaction that stored the rows) and ``upsert_since`` (a
rebuild) run the statements of ``store/rollup_statements.py``: ``INSERT INTO rollup_hours|
rollup_traffic|rollup_days ... SELECT ... FROM requests WHERE <the rows> GROUP BY ... ON CONFLICT DO
UPDATE SET n = n + excluded.n``. The database reads the rows it already holds and sums them in C;
Python sends a few parameters, not a value per column per group (summing in Python and sending the
groups cost the writer twice what storing the rows did, py-spy and ``benchmarks/rollups.py``). On
PostgreSQL the writer's three levels are one statement over one reading of the batch.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect

from llmgate.store.columns import as_utc
from llmgate.store.models import requests_table
from llmgate.store.rollup_statements import Day, all_levels, source, statement
from llmgate.store.spend import offset_segments

#: a rebuild sums this much time of raw rows per statement
REBUILD_WINDOW = timedelta(days=7)
_ANY_START = datetime(1970, 1, 1, tzinfo=UTC)  # where a first offset segment is said to begin


def upsert_ids(
    conn: Connection,
    ids: list[str],
    span: tuple[datetime, datetime],
    day_zone: str | None,
    day_from: datetime | None,
    *,
    traffic: bool = True,
) -> None:
    """Add the requests with these ``ids`` (just stored in ``conn``'s transaction, created within
    ``span``, both ends included) to the hour level, to ``rollup_traffic`` (``traffic``: a store
    migrated to 0018) and, from ``day_from`` on, to the day level of ``day_zone``."""
    dialect = conn.dialect
    by, params = (
        _sqlite_rows(conn, ids) if dialect.name == "sqlite" else ("ids", _params(dialect.name, ids=ids))
    )
    if dialect.name == "postgresql":  # the span prunes the months (store/partitions.py) to look in
        params.update(first=span[0], last=span[1])
        # psycopg prepares a statement run five times; a generic plan cannot see the batch's span
        # or size, and over monthly partitions PostgreSQL then scans every month for the ids
        # (measured: 0.8 s a batch of 5,000 became 19 s); plan it for the batch at hand
        conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")
    day: Day | None = None
    if day_zone is not None and day_from is not None:
        segments = None
        if dialect.name == "sqlite":  # the zone's offsets over the batch's span (a superset will do)
            segments = _offsets(day_zone, *span)
        day = (day_zone, segments)
        params.update(_params(dialect.name, day_from=day_from))
    if dialect.name == "postgresql":  # every level in one statement, over one reading of the rows
        conn.exec_driver_sql(_sql(dialect, by, day, traffic, together=True), params)
        return
    conn.exec_driver_sql(_sql(dialect, by, None), params)
    if traffic:
        conn.exec_driver_sql(_sql(dialect, by, None, True), params)
    if day is not None:
        conn.exec_driver_sql(_sql(dialect, by, day), params)


def _sqlite_rows(conn: Connection, ids: list[str]) -> tuple[str, dict[str, Any]]:
    """SQLite: the rows just stored by their rowids when they are the last ``len(ids)`` inserted
    (one writer at a time, each new row taking the next rowid: a range of the table itself, where
    the list is a lookup per id through the primary key's index); else by the list."""
    last = int(conn.exec_driver_sql("SELECT last_insert_rowid()").scalar() or 0)
    first = last - len(ids) + 1
    found = conn.exec_driver_sql("SELECT count(*) FROM requests WHERE rowid BETWEEN ? AND ?", (first, last))
    if last and found.scalar() == len(ids):
        return "rowids", {"first_rowid": first, "last_rowid": last}
    return "ids", _params("sqlite", ids=ids)


def upsert_since(
    conn: Connection,
    since: datetime,
    day_zone: str | None,
    day_from: datetime | None,
    *,
    traffic: bool = True,
) -> int:
    """Add every request from ``since`` on (a rebuild); returns how many there were.

    The rows are summed a window of ``REBUILD_WINDOW`` at a time (the upserts add, so a group
    split across two windows sums the same): each statement groups a week's rows, where one over
    a year of rows made the database sort them all at once (SQLite: on disk)."""
    dialect = conn.dialect
    requests = requests_table()
    counted, last = conn.execute(
        sa.select(sa.func.count(), sa.func.max(requests.c.created_at)).where(requests.c.created_at >= since)
    ).one()
    if not counted:
        return 0
    end, start = as_utc(last), since
    while start <= end:
        until = start + REBUILD_WINDOW
        window = _params(dialect.name, since=start, until=until)
        conn.exec_driver_sql(_sql(dialect, "since", None), window)
        if traffic:
            conn.exec_driver_sql(_sql(dialect, "since", None, True), window)
        if day_zone is not None and day_from is not None and until > day_from:
            params = _params(dialect.name, since=max(start, day_from), until=until, day_from=day_from)
            segments = _segments(conn, "since", day_zone, params) if dialect.name == "sqlite" else None
            if dialect.name == "postgresql" or segments is not None:
                conn.exec_driver_sql(_sql(dialect, "since", (day_zone, segments)), params)
        start = until
    return int(counted)


# --- internals ------------------------------------------------------------------------------


def _segments(
    conn: Connection, by: str, zone: str, params: dict[str, Any]
) -> tuple[tuple[datetime, int], ...] | None:
    """SQLite: the zone's UTC offsets over the rows to sum (``None``: there are none)."""
    created_at = requests_table().c.created_at
    span = sa.select(sa.func.min(created_at), sa.func.max(created_at)).where(source("sqlite", by))
    sql = str(span.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    first, last = conn.exec_driver_sql(sql, params).one()
    if first is None:
        return None
    first, last = (datetime.fromisoformat(str(v)).replace(tzinfo=UTC) for v in (first, last))
    return _offsets(zone, first, last)


def _offsets(zone: str, first: datetime, last: datetime) -> tuple[tuple[datetime, int], ...]:
    """The zone's offsets from ``first`` to ``last`` (both included), as the day statement's cache
    key: the SQL reads only the offsets and the moments they change, not where the first begins
    (each batch's own first moment made every batch's day statement a cache miss, compiled again:
    two fifths of SQLite's upkeep, py-spy)."""
    (_, offset), *changes = offset_segments(zone, first, last + timedelta(microseconds=1))
    return ((_ANY_START, offset), *changes)


@lru_cache(maxsize=64)
def _sql(dialect: Dialect, by: str, day: Day | None, traffic: bool = False, *, together: bool = False) -> str:
    """``statement`` (``together``: ``all_levels``) as SQL text, its constants
    inlined: only the rows' bounds (``ids`` and, on PostgreSQL, their span ``first``/``last``; or
    ``since``/``until``) and ``day_from`` are parameters (bound as ``_params`` writes them), so a
    batch binds a few values, not 140."""
    built = (all_levels if together else statement)(dialect.name, by, day, traffic)
    sql = str(built.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    if dialect.paramstyle == "pyformat":  # the placeholders came out escaped as literal text (%%)
        sql = sql.replace("%%(", "%(")
    return sql


def _params(dialect: str, **values: Any) -> dict[str, Any]:
    """The parameters as the driver takes them: ids as an array (PostgreSQL) or a JSON list
    (SQLite), times as ``UTCDateTime`` stores them."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name == "ids" and dialect == "sqlite":
            out[name] = "[" + ",".join(f'"{i}"' for i in value) + "]"
        elif isinstance(value, datetime) and dialect == "sqlite":
            out[name] = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        else:
            out[name] = value
    return out
