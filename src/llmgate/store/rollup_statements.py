"""The rollups' upkeep statements, built once per shape (``store/rollup_sql.py`` runs them).

``statement(dialect, by, day, traffic)`` is one level's ``INSERT INTO rollup_hours|rollup_traffic|
rollup_days ... SELECT <groups and sums> FROM (<the rows, one line each>) GROUP BY ... ON CONFLICT
DO UPDATE SET n = n + excluded.n``. ``all_levels(dialect, by, day, traffic)`` (PostgreSQL) is
every level in one statement: the rows are read and their groups worked out once, in a ``WITH``
query, and each level's insert reads that (data-modifying ``WITH``), where three statements read
the batch's rows three times.

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

The rows are those whose id is in ``:ids`` (PostgreSQL: created between ``:first`` and ``:last``),
those in the rowid range ``:first_rowid``..``:last_rowid`` (SQLite), or those created from
``:since`` until ``:until``; the day level takes them from ``:day_from`` on. A missing cost, count
or latency adds 0; costs are summed as stored, so sums are exact.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

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
from llmgate.store.spend import local_date, outcome_index

#: a day level: its zone, and (SQLite) the zone's offsets over the rows
Day = tuple[str, tuple[tuple[datetime, int], ...] | None]
_SEPARATOR = "\x1f"  # between a grain's values
_NULL = "\x1e"  # a NULL value in a grain
#: the request columns summed: six as they are (each named as its sum), then those counted (see _level)
_MEASURES = (*SUMS[1:7], "cache_hit", "latency_ms", "ttft_ms")


#: each level's table and dimensions
_LEVELS: dict[str, tuple[sa.Table, tuple[str, ...]]] = {
    "hour": (ROLLUP_HOURS, HOUR_DIMENSIONS),
    "traffic": (ROLLUP_TRAFFIC, TRAFFIC_DIMENSIONS),
    "day": (ROLLUP_DAYS, DAY_DIMENSIONS),
}


def statement(dialect: str, by: str, day: Day | None, traffic: bool = False) -> sa.Insert:
    """One level's upkeep: the day level (``day``), ``rollup_traffic`` (``traffic``) or the hours."""
    level = "day" if day is not None else "traffic" if traffic else "hour"
    rows = _rows(dialect, by, day, _LEVELS[level][1], hour=level != "day", moment=level == "day")
    # OFFSET 0 (SQLite: LIMIT -1) keeps the row-level subquery whole: merged into the grouping
    # query, its latency bucket was computed again inside each of the 36 histogram counts
    whole = (
        rows.limit(sa.literal_column("-1")) if dialect == "sqlite" else rows.offset(sa.literal_column("0"))
    )
    return _level(dialect, whole.subquery("r"), level, day, since=level == "day")


def all_levels(dialect: str, by: str, day: Day | None, traffic: bool) -> sa.Insert:
    """PostgreSQL: the hour level, ``rollup_traffic`` (``traffic``) and the day level (``day``) in
    one statement, over one reading of the rows."""
    rows = _rows(dialect, by, day, HOUR_DIMENSIONS, hour=True, moment=day is not None).cte("r")
    hours = _level(dialect, rows, "hour", None)
    others = [_level(dialect, rows, "traffic", None).cte("t")] if traffic else []
    if day is None:
        return hours.add_cte(rows, *others)
    return _level(dialect, rows, "day", day, since=True).add_cte(rows, hours.cte("h"), *others)


def placeholder(dialect: str, name: str) -> sa.ColumnElement[Any]:
    text = f"%({name})s" if dialect == "postgresql" else f":{name}"
    if dialect == "postgresql" and name == "ids":
        text += "::varchar[]"
    return sa.literal_column(text)


def source(dialect: str, by: str) -> sa.ColumnElement[bool]:
    """The rows to sum: those whose id is in ``:ids``, in a rowid range, or from ``:since`` on."""
    requests = requests_table()
    if by == "since":
        since, until = placeholder(dialect, "since"), placeholder(dialect, "until")
        return sa.and_(requests.c.created_at >= since, requests.c.created_at < until)
    if by == "rowids":  # SQLite: the batch's range of rowids (rollup_sql._sqlite_rows)
        rowid: sa.ColumnElement[int] = sa.literal_column("requests.rowid")
        return rowid.between(placeholder(dialect, "first_rowid"), placeholder(dialect, "last_rowid"))
    if dialect == "postgresql":
        within = requests.c.created_at.between(placeholder(dialect, "first"), placeholder(dialect, "last"))
        return sa.and_(requests.c.id == sa.any_(placeholder(dialect, "ids")), within)
    listed: sa.Select[Any] = sa.select(sa.column("value")).select_from(
        sa.func.json_each(placeholder(dialect, "ids"))
    )
    return requests.c.id.in_(listed.scalar_subquery())


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


# --- internals ------------------------------------------------------------------------------


def _rows(
    dialect: str, by: str, day: Day | None, dims: tuple[str, ...], *, hour: bool, moment: bool = False
) -> sa.Select[Any]:
    """The rows to sum, one line each: their ``hour`` (and its latency ``bucket``), their ``day``
    in ``day``'s zone, the dimensions ``dims``, the measures, and (``moment``) ``created_at``.
    SQLite also gets each row's ``grain`` here, for an hour or day level to group by."""
    requests = requests_table()
    values: dict[str, sa.ColumnElement[Any]] = {}
    for name in dims:
        if name == "outcome":
            values[name] = outcome_index(requests.c.status, requests.c.status_code, requests.c.provider)
        elif name == "status_class":
            values[name] = requests.c.status_code // 100
        else:
            values[name] = requests.c[name]
    line: list[sa.ColumnElement[Any]] = []
    if hour:
        line.append(_period(dialect, None).label("hour"))
    if day is not None:
        line.append(_period(dialect, day).label("day"))
    line += [value.label(name) for name, value in values.items()]
    if hour:
        line.append(latency_bucket_sql(dialect).label("bucket"))
    if dialect == "sqlite" and dims != TRAFFIC_DIMENSIONS:
        line.append(_grain(dialect, list(values.values())).label("grain"))
    line += [requests.c[name] for name in _MEASURES]
    if moment:
        line.append(requests.c.created_at)
    return sa.select(*line).where(source(dialect, by))


def _level(
    dialect: str, rows: sa.Subquery | sa.CTE, level: str, day: Day | None, *, since: bool = False
) -> sa.Insert:
    """``INSERT INTO <level> SELECT <groups and sums> FROM rows ... ON CONFLICT``; ``since``: only
    the rows from ``:day_from`` on."""
    table, dims = _LEVELS[level]
    zero = sa.literal(0)
    sums: dict[str, sa.ColumnElement[Any]] = {
        "requests": sa.func.count(),
        **{name: sa.func.coalesce(sa.func.sum(rows.c[name]), zero) for name in _MEASURES[:6]},
        "cache_hits": sa.func.count().filter(rows.c.cache_hit),
        "latency_ms_sum": sa.func.coalesce(sa.func.sum(rows.c.latency_ms), sa.literal(0.0)),
        "ttft_ms_sum": sa.func.coalesce(sa.func.sum(rows.c.ttft_ms), sa.literal(0.0)),
        "ttft_count": sa.func.count(rows.c.ttft_ms),
    }
    if level != "day":  # the latency histogram: the hour levels' only
        sums.update(
            {name: sa.func.count().filter(rows.c.bucket == i) for i, name in enumerate(LATENCY_BUCKETS)}
        )
    names_of_sums = HOUR_SUMS if level != "day" else SUMS
    period = rows.c.day if level == "day" else rows.c.hour
    head: list[sa.ColumnElement[Any]] = [period]
    names = ["hour"]
    if day is not None:
        head, names = [sa.literal(day[0], sa.String), period], ["time_zone", "day"]
    grain: list[sa.ColumnElement[Any]] = []  # traffic: by hour and outcome
    groups: list[sa.ColumnElement[Any]] = [period, *(rows.c[name] for name in dims)]
    if level != "traffic" and dialect == "sqlite":
        # by the rows' grain (one text, in the order of the key), its values taken from any row of
        # the group: SQLite sorted the rows by ten columns, then the groups again by the key
        grain, groups = [rows.c.grain], [period, rows.c.grain]
    elif level != "traffic":
        grain = [_grain(dialect, [rows.c[name] for name in dims])]
    query = sa.select(
        *head,
        *grain,
        *(rows.c[name] for name in dims),
        *(sums[name] for name in names_of_sums),
    ).group_by(*groups)
    if since:
        query = query.where(rows.c.created_at >= placeholder(dialect, "day_from"))
    # in key order: two writers updating the same groups lock them in one order (no deadlock)
    key_columns = ("1", "2") if day is None else ("2", "3")  # (hour, grain|outcome) or (day, grain)
    query = query.order_by(*(sa.literal_column(position) for position in key_columns))
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    insert = insert.from_select([*names, *(["grain"] if grain else []), *dims, *names_of_sums], query)
    key = (
        ["hour", "outcome" if level == "traffic" else "grain"]
        if day is None
        else ["time_zone", "day", "grain"]
    )
    return insert.on_conflict_do_update(
        index_elements=key, set_={name: table.c[name] + insert.excluded[name] for name in names_of_sums}
    )


def _period(dialect: str, day: Day | None) -> sa.ColumnElement[Any]:
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


def _grain(dialect: str, values: list[sa.ColumnElement[Any]]) -> sa.ColumnElement[Any]:
    texts = [sa.func.coalesce(sa.cast(value, sa.Text), sa.literal(_NULL)) for value in values]
    joined: sa.ColumnElement[Any] = texts[0]
    for text in texts[1:]:
        joined = joined + sa.literal(_SEPARATOR) + text
    return sa.func.md5(joined) if dialect == "postgresql" else joined
