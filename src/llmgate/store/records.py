"""Queries on the ``requests`` table: the recorder's bulk insert and the reads behind logs and the UI.

Rows travel as plain dicts keyed by column name (see ``store/models.py``) with Python values:
tz-aware UTC ``datetime``, exact ``Decimal`` costs, ``bool`` flags. Inserts are idempotent on
``id`` (``INSERT ... ON CONFLICT DO NOTHING``; on PostgreSQL, whose ``requests`` is partitioned
by month, the key is ``(id, created_at)``: ``store/partitions.py``), which is what lets the recorder
replay a spill file after a crash, or a batch whose outcome it never learned, without storing a
record twice.
Everything here is Core SQL on one code path for SQLite and PostgreSQL; no ORM objects.

Errors: ``StoreError`` means the store could not take the statement (unreachable, locked, schema
missing), so trying again later may work; ``InvalidRecord`` means the rows themselves are wrong
(unknown or missing columns, a value the column cannot hold) and retrying the same rows will not help.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from functools import cache
from threading import Lock
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, SQLAlchemyError, StatementError

from llmgate.errors import StoreError
from llmgate.store import STORED_RESPONSE
from llmgate.store.bodies import Body
from llmgate.store.body_search import newest
from llmgate.store.bulk_sql import BulkStatement, compile_bulk
from llmgate.store.db import describe_error, lacks_table
from llmgate.store.migrate import upgrade
from llmgate.store.models import Money, UTCDateTime, requests_table, row_defaults
from llmgate.store.partitions import ensure_ahead, ensure_months, forget, missing_partition
from llmgate.store.request_filter import RequestFilter, conditions
from llmgate.store.responses import insert_kept
from llmgate.store.rollups import add_to_rollups, use_day_zone

_HEX = re.compile(r"[0-9a-fA-F]{1,32}")


class InvalidRecord(ValueError):
    """A row the store will never accept as it is (the store itself is fine)."""


def insert_records(engine: Engine, rows: list[dict[str, Any]]) -> int:
    """Insert ``rows`` in one transaction, skipping ids already stored; returns how many were new.

    The rollups take the new rows in the same transaction (``store/rollups.py``). A batch some of
    whose ids are stored already (a replayed spill) is rolled back and stored again without them,
    so a replay never counts a request twice.
    """
    if not rows:
        return 0
    kept = [row[STORED_RESPONSE] for row in rows if row.get(STORED_RESPONSE)]
    insert = _bulk_insert(engine.dialect)
    try:
        complete = [_complete(_requests_part(row)) for row in rows]
        values = [insert.parameters(row) for row in complete]
    except (TypeError, ValueError, ArithmeticError) as exc:  # a value its column type cannot bind
        raise InvalidRecord(f"record rejected: {type(exc).__name__}: {exc}") from exc
    try:
        try:
            return _store_batch(engine, insert.sql, complete, values, kept)
        except DataError as exc:  # PostgreSQL's text cannot hold a NUL: U+FFFD in its place
            if NUL_REFUSED not in str(exc):
                raise
            complete = [_without_nul(row) for row in complete]
            return _store_batch(engine, insert.sql, complete, [insert.parameters(r) for r in complete], kept)
    except (IntegrityError, DataError) as exc:
        raise InvalidRecord(f"record rejected by the store: {describe_error(exc)}") from exc
    except DBAPIError as exc:
        raise StoreError(f"store write failed: {describe_error(exc)}") from exc
    except StatementError as exc:  # a value the column type could not bind
        raise InvalidRecord(f"record rejected: {describe_error(exc)}") from exc
    except (SQLAlchemyError, OSError) as exc:  # pool timeout, disconnects
        raise StoreError(f"store write failed: {describe_error(exc)}") from exc


#: psycopg's words for a NUL character bound to a text column (SQLite stores it as it came)
NUL_REFUSED = "cannot contain NUL (0x00) bytes"


#: SQLSTATEs of a transaction PostgreSQL rolled back so that another could go on (a deadlock, a
#: serialization failure): the batch is stored again, up to ``_TRIES`` times in all
_ROLLED_BACK = frozenset({"40P01", "40001"})
_TRIES = 3


def _store_batch(
    engine: Engine, sql: str, complete: list[Mapping[str, Any]], values: list[Any], kept: list[dict[str, Any]]
) -> int:
    """``_store_once``, again if the database rolled it back for another writer's sake: batches
    written at once (the recorder's, a replay's, another replica's) upsert the same rollup groups,
    each level in key order so that they wait for each other rather than deadlock; should the
    database still pick one as a deadlock's victim, it is stored again."""
    tries = 1
    while True:
        try:
            return _store_once(engine, sql, complete, values, kept)
        except DBAPIError as exc:
            if tries == _TRIES or getattr(exc.orig, "sqlstate", None) not in _ROLLED_BACK:
                raise
        tries += 1


def _store_once(
    engine: Engine, sql: str, complete: list[Mapping[str, Any]], values: list[Any], kept: list[dict[str, Any]]
) -> int:
    """``_store``, again without the ids stored before (a replay), or once the month it needs is
    made (one another process dropped meanwhile: a late replay)."""
    ensure_months(engine, (row["created_at"] for row in complete))
    try:
        return _store(engine, sql, complete, values, kept, replay=False)
    except _Replayed:
        return _store(engine, sql, complete, values, kept, replay=True)
    except IntegrityError as exc:
        if not missing_partition(exc):
            raise
        forget(engine)
        ensure_months(engine, (row["created_at"] for row in complete))
        return _store(engine, sql, complete, values, kept, replay=True)


def _without_nul(row: Mapping[str, Any]) -> Mapping[str, Any]:
    """``row`` with every NUL character of its text columns replaced by U+FFFD: the record keeps its
    bodies (it was stored degraded, bodies dropped), and the place of what could not be kept shows.
    The bodies are bytes in the database (``store/bodies.py``): they keep theirs."""
    return {
        k: v.replace("\x00", "\ufffd") if isinstance(v, str) and k not in _BODIES else v
        for k, v in row.items()
    }


#: the columns stored as bytes (``Body``), which hold a NUL as it came
_BODIES = frozenset(column.name for column in requests_table().columns if isinstance(column.type, Body))


class _Replayed(Exception):
    """Some of the batch was stored before: roll back, and store the rest on their own."""


def _store(
    engine: Engine,
    sql: str,
    complete: list[Mapping[str, Any]],
    values: list[Any],
    kept: list[dict[str, Any]],
    *,
    replay: bool,
) -> int:
    with engine.begin() as conn:
        if replay:  # only the ids not stored yet, each once
            table = requests_table()
            ids = [row["id"] for row in complete]
            seen = set(conn.execute(sa.select(table.c.id).where(table.c.id.in_(ids))).scalars())
            fresh: list[int] = []
            for index, row in enumerate(complete):
                if row["id"] not in seen:
                    seen.add(row["id"])
                    fresh.append(index)
            complete, values = [complete[i] for i in fresh], [values[i] for i in fresh]
        # executemany: psycopg pipelines it, pysqlite loops in C; both report the summed rowcount
        # when asked to preserve it (RETURNING via insertmanyvalues is 5x slower on psycopg, which
        # re-parses a 19,000-parameter statement for every batch).
        stored_now = 0
        if values:
            result = conn.exec_driver_sql(sql, values, execution_options={"preserve_rowcount": True})
            stored_now = max(0, result.rowcount)
        if stored_now != len(values):
            if replay:  # another writer stored some of these meanwhile: try again later
                raise StoreError("store write raced another writer of the same records")
            raise _Replayed
        add_to_rollups(conn, complete)
        if kept:  # Responses API answers kept with their records (store/responses.py)
            insert_kept(conn, engine.dialect.name, kept)
        return stored_now


_BULK_INSERTS: dict[tuple[str, str], BulkStatement] = {}


def _bulk_insert(dialect: Dialect) -> BulkStatement:
    found = _BULK_INSERTS.get((dialect.name, dialect.paramstyle))
    if found is not None:
        return found
    table = requests_table()
    if dialect.name == "postgresql":
        # no conflict target: the key is (id) before migration 0017 and (id, created_at) from it on
        # (requests partitioned by month: store/partitions.py); either way the only unique one
        stmt: sa.Insert = postgresql.insert(table).on_conflict_do_nothing()
    elif dialect.name == "sqlite":
        stmt = sqlite.insert(table).on_conflict_do_nothing(index_elements=["id"])
    else:  # pragma: no cover - create_engine_for only builds the two
        raise StoreError(f"unsupported database {dialect.name!r}")
    found = _BULK_INSERTS[(dialect.name, dialect.paramstyle)] = compile_bulk(stmt, table, dialect)
    return found


class StoreWriter:
    """The recorder's ``write``: brings the schema up to date on first contact, then inserts.

    If the store is down when the gateway starts, the gateway starts anyway; records spill to
    disk and the migrations run as soon as the store answers.
    """

    def __init__(self, engine: Engine, time_zone: str = "UTC") -> None:
        self._engine = engine
        self._time_zone = time_zone  # the rollups' days are local to it
        self._ready = False
        self._readying = Lock()  # batches written at once (the recorder's threads) wait for one

    @property
    def writes_at_once(self) -> int:
        """How many batches the writer process writes at once: three on PostgreSQL, whose server
        works on one transaction while the writer makes the next batch's rows and another waits
        on rollup groups it shares (``benchmarks/rollups_writer.py``: with the rollups, 1 at a
        time was 18-26% slower than without them, 2 at once 7-16%, 3 at once 5-10%); one on
        SQLite, which takes one writer at a time."""
        return 3 if self._engine.dialect.name == "postgresql" else 1

    def ensure_schema(self) -> None:
        if self._ready:
            return
        with self._readying:
            if not self._ready:
                upgrade(self._engine)
                use_day_zone(self._engine, self._time_zone)
                ensure_ahead(self._engine)  # PostgreSQL: this month's partition and the next ones
                self._ready = True

    def __call__(self, rows: list[dict[str, Any]]) -> None:
        self.ensure_schema()
        insert_records(self._engine, rows)


def list_records(
    engine: Engine, where: RequestFilter | None = None, *, limit: int = 50
) -> list[dict[str, Any]]:
    """The newest records first, whole, that match ``where`` (see ``store.request_filter``)."""
    table = requests_table()
    query = sa.select(table).order_by(table.c.created_at.desc(), table.c.id.desc())
    if where is not None:
        query = query.where(*conditions(where, engine.dialect.name))
    return _fetch(engine, query, limit=max(0, limit), text=where.text if where is not None else None)


def get_record(engine: Engine, record_id: str) -> dict[str, Any] | None:
    """The record with this id, or ``None``."""
    table = requests_table()
    rows = _fetch(engine, sa.select(table).where(table.c.id == record_id))
    return rows[0] if rows else None


def records_by_id_prefix(engine: Engine, prefix: str, *, limit: int = 2) -> list[dict[str, Any]]:
    """At most ``limit`` records whose id starts with ``prefix`` (ids are hex: other text matches none)."""
    if not prefix or not _HEX.fullmatch(prefix):
        return []
    table = requests_table()
    query = sa.select(table).where(table.c.id.startswith(prefix.lower())).order_by(table.c.id).limit(limit)
    return _fetch(engine, query)


def count_records(engine: Engine) -> int:
    """How many records the store holds."""
    query = sa.select(sa.func.count()).select_from(requests_table())
    try:
        with engine.connect() as conn:
            return int(conn.execute(query).scalar_one())
    except (SQLAlchemyError, OSError) as exc:
        raise StoreError(f"store read failed: {describe_error(exc)}") from exc


def rehydrate_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """Turn a row read back from JSON (ISO strings, decimal strings) into the columns' Python types.

    Keys that are not columns pass through unchanged (``insert_records`` rejects them).
    """
    kinds = _column_kinds()
    out: dict[str, Any] = {}
    for key, value in row.items():
        kind = kinds.get(key)
        if value is None or kind is None or isinstance(value, kind):
            out[key] = value
        elif kind is datetime and isinstance(value, str):
            out[key] = datetime.fromisoformat(value)
        elif kind is Decimal and isinstance(value, str | int | float):
            out[key] = Decimal(str(value))
        elif kind is bool and isinstance(value, int):
            out[key] = bool(value)
        elif kind is float and isinstance(value, int):
            out[key] = float(value)
        else:
            out[key] = value
    return out


# --- internals ------------------------------------------------------------------------------


def _fetch(
    engine: Engine, query: sa.Select[Any], *, limit: int | None = None, text: str | None = None
) -> list[dict[str, Any]]:
    """The rows of ``query``; with ``limit``, its newest ``limit`` (those that hold ``text``, when
    given: ``body_search.newest``)."""
    try:
        with engine.connect() as conn:
            if limit is not None:
                return newest(conn, query, limit, text)
            return [dict(row) for row in conn.execute(query).mappings()]
    except (SQLAlchemyError, OSError) as exc:
        if lacks_table(engine, requests_table().name):  # not migrated yet: no records
            return []
        raise StoreError(f"store read failed: {describe_error(exc)}") from exc


def _requests_part(row: Mapping[str, Any]) -> Mapping[str, Any]:
    """The row without what rides along with it for another table."""
    if STORED_RESPONSE not in row:
        return row
    return {k: v for k, v in row.items() if k != STORED_RESPONSE}


def _complete(row: Mapping[str, Any]) -> Mapping[str, Any]:
    """The row with every column present (defaults filled in); unknown or missing keys rejected."""
    names, defaults, required = _column_spec()
    if row.keys() == names:
        return row
    unknown = row.keys() - names
    if unknown:
        raise InvalidRecord(f"unknown column(s) for requests: {', '.join(sorted(map(str, unknown)))}")
    missing = required - row.keys()
    if missing:
        raise InvalidRecord(f"missing column(s) for requests: {', '.join(sorted(missing))}")
    return {name: row[name] if name in row else defaults.get(name) for name in names}


@cache
def _column_spec() -> tuple[frozenset[str], dict[str, Any], frozenset[str]]:
    names = frozenset(column.name for column in requests_table().columns)
    defaults, required = row_defaults(requests_table())
    return names, defaults, required


@cache
def _column_kinds() -> dict[str, type]:
    kinds: dict[str, type] = {}
    for column in requests_table().columns:
        column_type = column.type
        if isinstance(column_type, UTCDateTime):
            kinds[column.name] = datetime
        elif isinstance(column_type, Money):
            kinds[column.name] = Decimal
        elif isinstance(column_type, sa.Boolean):
            kinds[column.name] = bool
        elif isinstance(column_type, sa.Float):
            kinds[column.name] = float
    return kinds
