"""Schema migrations, run programmatically: ``upgrade(engine)`` brings any store to the newest schema.

The alembic scripts ship inside the package (``store/migrations/``), so no ``alembic.ini`` and no
working directory matter. Revisions are numbered ``0001``, ``0002``, ... and the files named
``<rev>_<slug>.py``. To write the next one from the models::

    from alembic import command
    with engine.begin() as conn:
        command.revision(alembic_config(conn), "add keys", autogenerate=True, rev_id="0002")

then read and tidy the generated file (plain SQLAlchemy types, index names as in ``0001``).

Several processes may start at once against one database. On PostgreSQL the whole upgrade runs in
one transaction holding a transaction-level advisory lock, so the second process waits, then finds
the schema at head and does nothing. On SQLite it runs inside ``BEGIN IMMEDIATE`` (SQLite's DDL is
transactional; the write lock serialises the processes the same way, within the busy timeout).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from llmgate.errors import StoreError
from llmgate.store.db import describe_error

# alembic is imported inside the functions that use it: it costs a large share of the
# gateway's start-up, and the request path never needs it.
if TYPE_CHECKING:
    from alembic.config import Config

#: Key of the PostgreSQL advisory lock held while migrating (the bytes ``llmgate\x01``).
MIGRATION_LOCK_KEY = int.from_bytes(b"llmgate\x01", "big")

_SCRIPT_LOCATION = Path(__file__).resolve().parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    """An alembic ``Config`` for llmgate's scripts, bound to ``connection`` when given."""
    # alembic: only when a migration runs, off commands that read a store already at head
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_SCRIPT_LOCATION))
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision this version of llmgate knows, such as ``"0001"``."""
    # alembic: only when a migration runs, off commands that read a store already at head
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships 0001
        raise StoreError("no migrations found in the llmgate package")
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or ``None`` for a database llmgate never migrated."""
    # alembic: only when a migration runs, off commands that read a store already at head
    from alembic.runtime.migration import MigrationContext

    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot read the schema revision: {describe_error(exc)}") from exc


_IN_PROCESS = threading.Lock()


def upgrade(engine: Engine) -> None:
    """Migrate the database to ``head_revision()``; a no-op when it is there already.

    Raises ``StoreError`` when the database cannot be reached, a migration fails, or the database
    is at a revision this llmgate does not know (a newer llmgate migrated it).
    """
    if _at_head(engine):
        return
    # alembic: only when a migration runs, off commands that read a store already at head
    from alembic.util.exc import CommandError

    try:
        # alembic keeps its migration context in module globals: one migration per process at a
        # time (the gateway migrates in a thread while a CLI command or the key registry may too).
        with _IN_PROCESS:
            if engine.dialect.name == "sqlite":
                _upgrade_sqlite(engine)
            else:
                _upgrade_locked(engine)
    except CommandError as exc:
        raise StoreError(f"database migration failed: {exc}") from exc
    except SQLAlchemyError as exc:
        raise StoreError(f"database migration failed: {describe_error(exc)}") from exc


def newest_script() -> str:
    """The newest revision, from the script names alone (``0008_spend_outcomes.py``: ``"0008"``);
    ``head_revision()`` asks alembic, which costs a CLI command more than the rest of its start."""
    names = (path.name for path in (_SCRIPT_LOCATION / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))
    return max(name.split("_", 1)[0] for name in names)


def _at_head(engine: Engine) -> bool:
    """Whether the store is at the newest revision already: then ``upgrade`` need not load alembic.
    Any doubt (no table yet, an error) is a no: the full upgrade decides, and reports."""
    try:
        with engine.connect() as conn:
            versions = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all()
    except SQLAlchemyError:
        return False
    return versions == [newest_script()]


def _upgrade_locked(engine: Engine) -> None:
    # alembic: only when a migration runs, off commands that read a store already at head
    from alembic import command

    with engine.connect() as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(MIGRATION_LOCK_KEY)))
        command.upgrade(alembic_config(conn), "head")


def _upgrade_sqlite(engine: Engine) -> None:
    # alembic: only when a migration runs, off commands that read a store already at head
    from alembic import command

    # pysqlite opens transactions lazily and never for DDL; take control of BEGIN so that the
    # whole upgrade is one transaction that holds the write lock from its first statement.
    with engine.connect() as conn:
        dbapi_conn = conn.connection.driver_connection
        previous = dbapi_conn.isolation_level  # type: ignore[union-attr]
        dbapi_conn.isolation_level = None  # type: ignore[union-attr]
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                command.upgrade(alembic_config(conn), "head")
            except BaseException:
                conn.rollback()
                raise
            conn.commit()
        finally:
            dbapi_conn.isolation_level = previous  # type: ignore[union-attr]
