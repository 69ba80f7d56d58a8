"""The rollups' upkeep as SQL: request rows summed into their hour and day groups by the database.

``upsert_groups(conn, table, source, ...)`` runs one ``INSERT INTO rollup_hours|rollup_days ...
SELECT ... FROM requests WHERE <source> GROUP BY ... ON CONFLICT DO UPDATE SET n = n + excluded.n``:
the writer's upkeep passes the ids it has just stored, a rebuild a time range. The database reads
the rows it already holds and sums them in C; Python sends one parameter, not a value per column
per group (summing in Python and sending the groups cost the writer twice what storing the rows
did, py-spy and ``benchmarks/rollups.py``).

What a row's group is, decided here once for both stores:

- hour: its UTC hour; day: its local date in the day level's zone (PostgreSQL's tz database;
  SQLite adds the zone's offsets over the rows' span, found in Python, ``spend.offset_segments``);
- outcome: ``store.spend.outcome_index`` (0 succeeded, 1 failed, 2 rejected); status class: the
  code's hundreds;
- latency bucket ``k`` (columns ``lat_00``...): ``LATENCY_BOUNDS_MS[k-1] <= latency < LATENCY_BOUNDS_MS[k]``
  (PostgreSQL's ``width_bucket``);
- grain: the group's name, from its values: an md5 on PostgreSQL (the primary key stays short
  whatever a tag set or a user id holds), the values themselves on SQLite (no length limit there);
  a NULL and an empty string differ.

A missing cost, count or latency adds 0; costs are summed as stored, so sums are exact.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Dialect

from llmgate.store.columns import as_utc
from llmgate.store.models import requests_table
from llmgate.store.rollup_tables import (
    DAY_DIMENSIONS,
    HOUR_DIMENSIONS,
    HOUR_SUMS,
    LATENCY_BOUNDS_MS,
    LATENCY_BUCKETS,
    ROLLUP_DAYS,
    ROLLUP_HOURS,
    ROLLUP_TRAFFIC,
    SUMS,
    TRAFFIC_DIMENSIONS,
)
from llmgate.store.spend import local_date, offset_segments, outcome_index

#: a rebuild sums this much time of raw rows per statement
REBUILD_WINDOW = timedelta(days=7)
_SEPARATOR = "\x1f"  # between a grain's values
_NULL = "\x1e"  # a NULL value in a grain
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
    conn.exec_driver_sql(_sql(dialect, by, None), params)
    if traffic:
        conn.exec_driver_sql(_sql(dialect, by, None, True), params)
    if day_zone is not None and day_from is not None:
        segments = None
        if dialect.name == "sqlite":  # the zone's offsets over the batch's span (a superset will do)
            segments = _offsets(offset_segments(day_zone, span[0], span[1] + timedelta(microseconds=1)))
        day_params = {**params, **_params(dialect.name, day_from=day_from)}
        conn.exec_driver_sql(_sql(dialect, by, (day_zone, segments)), day_params)


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

_Day = tuple[str, tuple[tuple[datetime, int], ...] | None]  # (zone, SQLite: its offsets over the rows)


def _source(dialect: str, by: str) -> sa.ColumnElement[bool]:
    """The rows to sum: those whose id is in ``:ids``, or from ``:since`` on."""
    requests = requests_table()
    if by == "since":
        since, until = _placeholder(dialect, "since"), _placeholder(dialect, "until")
        return sa.and_(requests.c.created_at >= since, requests.c.created_at < until)
    if by == "rowids":  # SQLite: the batch's range of rowids (_sqlite_rows)
        rowid: sa.ColumnElement[int] = sa.literal_column("requests.rowid")
        return rowid.between(_placeholder(dialect, "first_rowid"), _placeholder(dialect, "last_rowid"))
    if dialect == "postgresql":
        within = requests.c.created_at.between(_placeholder(dialect, "first"), _placeholder(dialect, "last"))
        return sa.and_(requests.c.id == sa.any_(_placeholder(dialect, "ids")), within)
    listed: sa.Select[Any] = sa.select(sa.column("value")).select_from(
        sa.func.json_each(_placeholder(dialect, "ids"))
    )
    return requests.c.id.in_(listed.scalar_subquery())


def _segments(
    conn: Connection, by: str, zone: str, params: dict[str, Any]
) -> tuple[tuple[datetime, int], ...] | None:
    """SQLite: the zone's UTC offsets over the rows to sum (``None``: there are none)."""
    created_at = requests_table().c.created_at
    span = sa.select(sa.func.min(created_at), sa.func.max(created_at)).where(_source("sqlite", by))
    sql = str(span.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    first, last = conn.exec_driver_sql(sql, params).one()
    if first is None:
        return None
    first, last = (datetime.fromisoformat(str(v)).replace(tzinfo=UTC) for v in (first, last))
    return _offsets(offset_segments(zone, first, last + timedelta(microseconds=1)))


def _offsets(segments: list[tuple[datetime, int]]) -> tuple[tuple[datetime, int], ...]:
    """``segments`` as the statement's cache key: the SQL reads only the offsets and the moments
    they change, not where the first begins (each batch's own first moment made every batch's
    day statement a cache miss, compiled again: two fifths of SQLite's upkeep, py-spy)."""
    (_, first), *changes = segments
    return ((_ANY_START, first), *changes)


@lru_cache(maxsize=64)
def _sql(dialect: Dialect, by: str, day: _Day | None, traffic: bool = False) -> str:
    """``_statement`` as SQL text, its constants inlined: only the rows' bounds (``ids`` and, on
    PostgreSQL, their span ``first``/``last``; or ``since``/``until``) and ``day_from`` are
    parameters (bound as ``_params`` writes them), so a batch binds a few values, not 140."""
    statement = _statement(dialect.name, by, day, traffic)
    sql = str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    if dialect.paramstyle == "pyformat":  # the placeholders came out escaped as literal text (%%)
        sql = sql.replace("%%(", "%(")
    return sql


def _placeholder(dialect: str, name: str) -> sa.ColumnElement[Any]:
    text = f"%({name})s" if dialect == "postgresql" else f":{name}"
    if dialect == "postgresql" and name == "ids":
        text += "::varchar[]"
    return sa.literal_column(text)


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


def _statement(dialect: str, by: str, day: _Day | None, traffic: bool = False) -> sa.Insert:
    """``INSERT INTO <level> SELECT <groups and sums> FROM requests WHERE <source> ... ON CONFLICT``:
    the day level (``day``), ``rollup_traffic`` (``traffic``) or the hour level."""
    requests = requests_table()
    if day is not None:
        table, dims = ROLLUP_DAYS, DAY_DIMENSIONS
    else:
        table, dims = (ROLLUP_TRAFFIC, TRAFFIC_DIMENSIONS) if traffic else (ROLLUP_HOURS, HOUR_DIMENSIONS)
    where = _source(dialect, by)
    if day is not None:
        where = sa.and_(where, requests.c.created_at >= _placeholder(dialect, "day_from"))
    inner: list[sa.ColumnElement[Any]] = [_period(dialect, day).label("period")]
    for name in dims:
        if name == "outcome":
            inner.append(
                outcome_index(requests.c.status, requests.c.status_code, requests.c.provider).label(name)
            )
        elif name == "status_class":
            inner.append((requests.c.status_code // 100).label(name))
        else:
            inner.append(requests.c[name].label(name))
    if day is None:
        inner.append(latency_bucket_sql(dialect).label("bucket"))
    inner += [requests.c[name] for name in _MEASURES]
    # OFFSET 0 (SQLite: LIMIT -1) keeps the row-level subquery whole: merged into the grouping
    # query, its latency bucket was computed again inside each of the 36 histogram counts
    per_row = sa.select(*inner).where(where)
    if dialect == "sqlite":
        per_row = per_row.limit(sa.literal_column("-1"))
    else:
        per_row = per_row.offset(sa.literal_column("0"))
    rows = per_row.subquery("r")
    zero = sa.literal(0)
    sums: dict[str, sa.ColumnElement[Any]] = {
        "requests": sa.func.count(),
        **{name: sa.func.coalesce(sa.func.sum(rows.c[name]), zero) for name in _MEASURES[:6]},
        "cache_hits": sa.func.count().filter(rows.c.cache_hit),
        "latency_ms_sum": sa.func.coalesce(sa.func.sum(rows.c.latency_ms), sa.literal(0.0)),
        "ttft_ms_sum": sa.func.coalesce(sa.func.sum(rows.c.ttft_ms), sa.literal(0.0)),
        "ttft_count": sa.func.count(rows.c.ttft_ms),
    }
    if day is None:  # the latency histogram: the hour level's only
        sums.update(
            {name: sa.func.count().filter(rows.c.bucket == i) for i, name in enumerate(LATENCY_BUCKETS)}
        )
    names_of_sums = HOUR_SUMS if day is None else SUMS
    head: list[sa.ColumnElement[Any]] = [rows.c.period]
    names = ["hour"]
    if day is not None:
        head, names = [sa.literal(day[0], sa.String), rows.c.period], ["time_zone", "day"]
    grain = [] if traffic else [_grain(dialect, [rows.c[name] for name in dims])]  # traffic: by outcome
    query = sa.select(
        *head,
        *grain,
        *(rows.c[name] for name in dims),
        *(sums[name] for name in names_of_sums),
    ).group_by(rows.c.period, *(rows.c[name] for name in dims))
    # in key order: two writers updating the same groups lock them in one order (no deadlock)
    key_columns = ("1", "2") if day is None else ("2", "3")  # (hour, grain|outcome) or (day, grain)
    query = query.order_by(*(sa.literal_column(position) for position in key_columns))
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    insert = insert.from_select([*names, *(["grain"] if grain else []), *dims, *names_of_sums], query)
    key = ["hour", "outcome" if traffic else "grain"] if day is None else ["time_zone", "day", "grain"]
    return insert.on_conflict_do_update(
        index_elements=key, set_={name: table.c[name] + insert.excluded[name] for name in names_of_sums}
    )


_MEASURES = (  # summed as they are (the first six), or counted (see _statement)
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "cost_usd",
    "saved_usd",
    "cache_hit",
    "latency_ms",
    "ttft_ms",
)


def _period(dialect: str, day: _Day | None) -> sa.ColumnElement[Any]:
    """The row's UTC hour (``day`` None) or its local date in ``day``'s zone."""
    created_at = requests_table().c.created_at
    if day is None:
        if dialect == "postgresql":  # in UTC, whatever the session's zone
            return sa.func.timezone("UTC", sa.func.date_trunc("hour", sa.func.timezone("UTC", created_at)))
        return sa.func.substr(created_at, 1, 14, type_=sa.String) + sa.literal("00:00.000000")
    zone, segments = day
    if dialect == "postgresql":
        return sa.cast(sa.func.timezone(zone, created_at), sa.Date)
    if segments is None:  # no rows to sum: any date will do
        return sa.func.date(created_at)
    return local_date(dialect, list(segments), created_at)


def latency_bucket_sql(
    dialect: str, latency_ms: sa.ColumnElement[Any] | None = None
) -> sa.ColumnElement[Any]:
    """The latency bucket of ``latency_ms`` (the requests' column by default), in SQL: bucket ``k``
    holds ``LATENCY_BOUNDS_MS[k-1] <= latency < LATENCY_BOUNDS_MS[k]`` (``latency_sketch``)."""
    column = requests_table().c.latency_ms if latency_ms is None else latency_ms
    latency = sa.func.coalesce(column, sa.literal(0.0))
    if dialect == "postgresql":
        bounds = postgresql.array([sa.literal(b, sa.Float) for b in LATENCY_BOUNDS_MS])
        return sa.func.width_bucket(latency, bounds)
    whens = [(latency < bound, index) for index, bound in enumerate(LATENCY_BOUNDS_MS)]
    return sa.case(*whens, else_=len(LATENCY_BOUNDS_MS))


def _grain(dialect: str, values: list[sa.ColumnElement[Any]]) -> sa.ColumnElement[Any]:
    texts = [sa.func.coalesce(sa.cast(value, sa.Text), sa.literal(_NULL)) for value in values]
    joined: sa.ColumnElement[Any] = texts[0]
    for text in texts[1:]:
        joined = joined + sa.literal(_SEPARATOR) + text
    return sa.func.md5(joined) if dialect == "postgresql" else joined
