"""PostgreSQL: ``requests`` becomes a table range-partitioned by UTC month of ``created_at``.

The rows move into a partitioned table of the same name and columns, one partition per month from
the oldest record's to ``MONTHS_AHEAD`` months past now (``store/partitions.py`` names them and
keeps creating them); the primary key becomes ``(id, created_at)``, and every other index on the
table is built again on the partitioned one as it was (an operator's own indexes included). The
copy is one ``INSERT ... SELECT`` inside the migration's transaction: a store of millions of rows
takes minutes, with writers spilling to disk meanwhile. On both stores ``ix_requests_created_at``
goes (``ix_requests_created_at_model`` starts with the same column and serves every time range:
25 B a request on PostgreSQL, 39 B on SQLite) and so does ``ix_requests_status`` (two values; 9 B
and 17 B), two indexes fewer for every insert to keep. A downgrade moves the rows back into one
plain table with the primary key ``(id)`` and builds both indexes again.

Revision ID: 0017
Revises: 0016
Create Date: 2027-02-20
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from alembic import op
from sqlalchemy.engine import Connection

from llmgate.store.partitions import create_months, is_partitioned, month_of, months_ahead, months_between

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD = "requests_before_0017"
#: indexes that only cost every insert: ``ix_requests_created_at_model`` leads with ``created_at``;
#: ``status`` has two values, and its index led SQLite's planner to read every successful request
#: for a day's latency percentiles (4.4 s at 10M rows) instead of the day's range
_REDUNDANT = {"ix_requests_created_at": ["created_at"], "ix_requests_status": ["status"]}


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        for name in _REDUNDANT:
            op.drop_index(name, table_name="requests")
        return
    if is_partitioned(bind):
        return
    primary, indexes = _indexes(bind)
    _set_aside(bind, primary, indexes)
    indexes = [(name, sql) for name, sql in indexes if name not in _REDUNDANT]
    partitioned = "PARTITION BY RANGE (created_at)"
    bind.exec_driver_sql(f"CREATE TABLE requests (LIKE {_OLD} INCLUDING DEFAULTS) {partitioned}")
    oldest, newest = bind.exec_driver_sql(f"SELECT min(created_at), max(created_at) FROM {_OLD}").one()
    now = month_of(datetime.now(UTC))
    first = month_of(oldest) if oldest is not None else now
    last = months_ahead(max(month_of(newest) if newest is not None else now, now))
    create_months(bind, "requests", months_between(min(first, now), last))
    _move_rows(bind, primary, "(id, created_at)", indexes)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql" and is_partitioned(bind):
        primary, indexes = _indexes(bind)
        _set_aside(bind, primary, indexes)
        bind.exec_driver_sql(f"CREATE TABLE requests (LIKE {_OLD} INCLUDING DEFAULTS)")
        _move_rows(bind, primary, "(id)", indexes)
    for name, columns in _REDUNDANT.items():
        op.create_index(name, "requests", columns)


def _indexes(bind: Connection) -> tuple[str, list[tuple[str, str]]]:
    """The primary key's name, and every other index on ``requests`` as (name, its CREATE INDEX)."""
    primary = bind.exec_driver_sql(
        "SELECT conname FROM pg_constraint WHERE conrelid = 'requests'::regclass AND contype = 'p'"
    ).scalar_one()
    rows = bind.exec_driver_sql(
        "SELECT c.relname, pg_get_indexdef(c.oid) FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid "
        "WHERE x.indrelid = 'requests'::regclass AND NOT x.indisprimary ORDER BY c.relname"
    ).all()
    return str(primary), [(str(name), str(sql)) for name, sql in rows]


def _set_aside(bind: Connection, primary: str, indexes: list[tuple[str, str]]) -> None:
    """Rename ``requests`` out of the way, its names freed for the new table (an index's name is
    unique in its schema); the old table's indexes go, the copy reads it whole."""
    for name, _sql in indexes:
        bind.exec_driver_sql(f'DROP INDEX "{name}"')
    bind.exec_driver_sql(f"ALTER TABLE requests RENAME TO {_OLD}")
    bind.exec_driver_sql(f'ALTER TABLE {_OLD} RENAME CONSTRAINT "{primary}" TO "{primary}_old"')


def _move_rows(bind: Connection, primary: str, key: str, indexes: list[tuple[str, str]]) -> None:
    """Copy the rows into the new ``requests``, drop the old table, then key and index the new one
    (building indexes over the copied rows is faster than keeping them up during the copy)."""
    bind.exec_driver_sql(f"INSERT INTO requests SELECT * FROM {_OLD}")
    bind.exec_driver_sql(f"DROP TABLE {_OLD} CASCADE")
    bind.exec_driver_sql(f'ALTER TABLE requests ADD CONSTRAINT "{primary}" PRIMARY KEY {key}')
    for _name, sql in indexes:  # a partitioned table's index reads "ON ONLY": built on the parent alone
        bind.exec_driver_sql(sql.replace(" ON ONLY ", " ON ", 1))
