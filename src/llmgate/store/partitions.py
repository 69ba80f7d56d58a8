"""PostgreSQL: ``requests`` range-partitioned by UTC calendar month of ``created_at`` (migration 0017).

A month is a partition named ``requests_pYYYY_MM`` holding ``[first of the month, first of the next)``
in UTC; the table's primary key is ``(id, created_at)`` (a partitioned table's unique keys hold its
partition key), and the records' idempotent insert conflicts on both (a replayed record carries its
own ``created_at``). There is no default partition: a row for a month with no partition is refused,
so every writer first makes sure its batch's months exist (``ensure_months``: a set kept per engine,
so a batch whose months are known costs a set lookup); ``ensure_ahead`` creates the coming
``MONTHS_AHEAD`` months (the writer at start, the retention job at every prune), so creating one is
never on the request path in practice. Retention drops whole months (``drop_before``): a month is a
``DROP TABLE`` however many rows it holds, where a batched ``DELETE`` would have to write every row.

SQLite keeps one table; everything here is a no-op there. An attempt is stored with its request
(``attempts_json``), so partitioning ``requests`` partitions the attempts too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from threading import Lock
from weakref import WeakKeyDictionary

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from llmgate.store.columns import as_utc

__all__ = [
    "MONTHS_AHEAD",
    "PARTITIONED",
    "Dropped",
    "create_months",
    "drop_before",
    "ensure_ahead",
    "ensure_months",
    "forget",
    "is_partitioned",
    "missing_partition",
    "month_of",
    "month_partitions",
    "months_ahead",
    "months_between",
    "not_a_partition",
]

#: the tables partitioned by month on PostgreSQL
PARTITIONED = ("requests",)
#: months created ahead of the current one
MONTHS_AHEAD = 2
#: a DDL statement waits at most this long for writers' locks (then the next writer or prune retries)
_LOCK_TIMEOUT = "5s"

Month = tuple[int, int]  # (year, month)
_NAME = re.compile(r"^(?P<table>\w+)_p(?P<year>\d{4})_(?P<month>\d{2})$")


@dataclass(frozen=True)
class Dropped:
    """A month ``drop_before`` dropped, and how many rows went with it."""

    name: str
    month: Month
    rows: int


def month_of(at: datetime) -> Month:
    at = as_utc(at)
    return at.year, at.month


def _start(month: Month) -> datetime:
    return datetime(month[0], month[1], 1, tzinfo=UTC)


def _next(month: Month) -> Month:
    year, number = month
    return (year + 1, 1) if number == 12 else (year, number + 1)


def months_ahead(month: Month) -> Month:
    """The last month created ahead of ``month``: ``MONTHS_AHEAD`` months later."""
    for _ in range(MONTHS_AHEAD):
        month = _next(month)
    return month


def months_between(first: Month, last: Month) -> list[Month]:
    """Every month from ``first`` to ``last``, both included."""
    out: list[Month] = []
    month = first
    while month <= last:
        out.append(month)
        month = _next(month)
    return out


def _name(table: str, month: Month) -> str:
    return f"{table}_p{month[0]:04d}_{month[1]:02d}"


def not_a_partition(name: str | None, type_: str, parent_names: object = None) -> bool:
    """Alembic's ``include_name``: a month's partition (and its indexes) is not a table of the
    models, so autogenerate neither proposes to drop it nor compares it."""
    if type_ == "table" and name is not None:
        match = _NAME.match(name)
        return match is None or match["table"] not in PARTITIONED
    if type_ == "index" and isinstance(parent_names, dict):
        return not_a_partition(parent_names.get("table_name"), "table")
    return True


def is_partitioned(conn: Connection, table: str = "requests") -> bool:
    """Whether ``table`` (in the search path) is a partitioned PostgreSQL table."""
    if conn.dialect.name != "postgresql":
        return False
    found = conn.exec_driver_sql(
        "SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(%(t)s)", {"t": table}
    ).first()
    return found is not None


def month_partitions(conn: Connection, table: str = "requests") -> dict[Month, str]:
    """``table``'s monthly partitions by month (partitions not named as this module names them are
    not llmgate's, and are left out)."""
    rows = conn.exec_driver_sql(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = to_regclass(%(t)s)",
        {"t": table},
    ).scalars()
    out: dict[Month, str] = {}
    for name in rows:
        match = _NAME.match(name)
        if match and match["table"] == table:
            out[(int(match["year"]), int(match["month"]))] = name
    return out


def create_months(conn: Connection, table: str, months: Iterable[Month]) -> None:
    """Create ``table``'s partitions for ``months`` that do not exist yet (in ``conn``'s transaction)."""
    for month in months:
        start, end = _start(month), _start(_next(month))
        conn.exec_driver_sql(
            f"CREATE TABLE IF NOT EXISTS {_name(table, month)} PARTITION OF {table} "
            f"FOR VALUES FROM ('{start:%Y-%m-%d %H:%M:%S+00}') TO ('{end:%Y-%m-%d %H:%M:%S+00}')"
        )


# --- what a writer knows exists, per engine ---------------------------------------------------

_KNOWN: WeakKeyDictionary[Engine, dict[str, set[Month] | None]] = WeakKeyDictionary()
_KNOWN_LOCK = Lock()


def ensure_months(engine: Engine, moments: Iterable[datetime], table: str = "requests") -> None:
    """Make sure ``table`` has a partition for the month of each of ``moments`` (a no-op on SQLite,
    on a table that is not partitioned, and for months this engine has seen exist)."""
    if engine.dialect.name != "postgresql":
        return
    known = _known(engine, table)
    if known is None:
        return
    # a value that is no datetime is the insert's to refuse (InvalidRecord), not this lookup's
    wanted = {month_of(at) for at in moments if isinstance(at, datetime)} - known
    if wanted:
        _create(engine, table, wanted)


def ensure_ahead(engine: Engine, now: datetime | None = None, table: str = "requests") -> None:
    """Create this month's partition and the next ``MONTHS_AHEAD`` months' (and forget what this
    engine knew: another process may have dropped some)."""
    if engine.dialect.name != "postgresql":
        return
    forget(engine)
    month = month_of(now or datetime.now(UTC))
    ensure_months(engine, (_start(m) for m in months_between(month, months_ahead(month))), table)


def forget(engine: Engine) -> None:
    """Read the partitions again on next use (after a prune dropped some, or a refused insert)."""
    with _KNOWN_LOCK:
        _KNOWN.pop(engine, None)


def missing_partition(exc: BaseException) -> bool:
    """Whether ``exc`` is PostgreSQL refusing a row that no partition takes."""
    return isinstance(exc, DBAPIError) and "no partition of relation" in str(exc.orig)


def _known(engine: Engine, table: str) -> set[Month] | None:
    """The months known to exist (``None``: the table is not partitioned here)."""
    with _KNOWN_LOCK:
        tables = _KNOWN.get(engine)
        if tables is not None and table in tables:
            return tables[table]
    with engine.connect() as conn:
        months = set(month_partitions(conn, table)) if is_partitioned(conn, table) else None
    with _KNOWN_LOCK:
        _KNOWN.setdefault(engine, {})[table] = months
    return months


def _create(engine: Engine, table: str, months: set[Month]) -> None:
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{_LOCK_TIMEOUT}'")
            create_months(conn, table, sorted(months))
    except DBAPIError:
        # another process created one of them meanwhile (IF NOT EXISTS is not atomic between two
        # sessions), or migrated the table: what is there now is what counts
        forget(engine)
        known = _known(engine, table)
        if known is not None and not months <= known:
            raise
        return
    with _KNOWN_LOCK:
        found = _KNOWN.setdefault(engine, {}).get(table)
        if found is not None:
            found.update(months)


def drop_before(engine: Engine, cutoff: datetime, table: str = "requests") -> list[Dropped]:
    """Drop ``table``'s monthly partitions that end at or before ``cutoff`` (each in a transaction
    of its own); the rows of a month ``cutoff`` falls inside are left to a batched delete."""
    if engine.dialect.name != "postgresql":
        return []
    dropped: list[Dropped] = []
    with engine.connect() as conn:
        if not is_partitioned(conn, table):
            return []
        months = month_partitions(conn, table)
    for month, name in sorted(months.items()):
        if _start(_next(month)) > cutoff:
            break
        with engine.begin() as conn:
            conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{_LOCK_TIMEOUT}'")
            rows = int(conn.exec_driver_sql(f"SELECT count(*) FROM {name}").scalar_one())
            conn.exec_driver_sql(f"DROP TABLE {name}")
        dropped.append(Dropped(name, month, rows))
    if dropped:
        forget(engine)
    return dropped
