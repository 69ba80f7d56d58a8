"""Engines for the store: one function turns a database URL into a tuned SQLAlchemy engine.

SQLite (the default, one process or one host) and PostgreSQL (several replicas) go through the
same code everywhere else; the differences live here and in ``models.py``'s column types.

- SQLite: WAL journal (readers never block the writer), ``synchronous=NORMAL`` (durable at
  checkpoints, fast commits), a busy timeout so concurrent writers wait instead of failing,
  connections usable from worker threads, and the file's directory created if missing.
- PostgreSQL through psycopg 3: ``pool_pre_ping`` so a restarted server costs one failed ping
  rather than a failed request, a modest pool, and a short connect timeout plus TCP keepalives so
  a dead server fails fast instead of hanging the recorder. ``postgres://`` and
  ``postgresql://`` URLs are taken to mean psycopg 3.

Nothing here runs at import; callers own and dispose of their engines.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from llmgate.errors import ConfigError, LlmgateError, StoreError

log = logging.getLogger("llmgate.store")

_PASSWORD_IN_URL = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")


def create_engine_for(
    url: str,
    *,
    busy_timeout_ms: int = 5000,
    connect_timeout_s: int = 3,
    pool_size: int = 5,
    max_overflow: int = 5,
    echo: bool = False,
) -> Engine:
    """Build the engine for ``url`` (``sqlite:///path.db`` or ``postgresql+psycopg://...``).

    Raises ``ConfigError`` for a URL that is malformed or names another database.
    """
    parsed = _parse(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed, busy_timeout_ms=busy_timeout_ms, echo=echo)
    if backend == "postgresql":
        return _postgres_engine(
            parsed,
            connect_timeout_s=connect_timeout_s,
            pool_size=pool_size,
            max_overflow=max_overflow,
            echo=echo,
        )
    raise ConfigError(
        f"unsupported database URL {parsed.render_as_string(hide_password=True)!r}: "
        "use sqlite:///path/to/file.db or postgresql+psycopg://user@host/db"
    )


def sqlite_file(url: str) -> Path | None:
    """The file an SQLite URL names (``None``: in memory, a ``file:`` URI, or not SQLite), without
    touching it: callers that only read can tell a store that does not exist yet."""
    parsed = _parse(url)
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database).expanduser()


def shown_url(url: str) -> str:
    """``url`` with its password replaced by ``***``: the form logs and messages show."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return _PASSWORD_IN_URL.sub(r"\1***@", url)


def ping(engine: Engine) -> None:
    """One round trip to the store; raises ``StoreError`` when it cannot be reached."""
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except (SQLAlchemyError, OSError) as exc:
        raise StoreError(f"store unreachable: {describe_error(exc)}") from exc


def lacks_table(engine: Engine, name: str) -> bool:
    """Whether the store answers but has no table ``name`` yet (a store the writer has not migrated:
    asked after a failed read only); False when the store itself is down (the caller reports that)."""
    try:
        with engine.connect() as conn:
            return not sa.inspect(conn).has_table(name)
    except (SQLAlchemyError, OSError):
        return False


def describe_error(exc: BaseException, *, limit: int = 200) -> str:
    """A one-line description of a store error: driver message only, no SQL, parameters or passwords."""
    if isinstance(exc, LlmgateError):  # already ours, already safe
        lines = exc.message.strip().splitlines()
        return lines[0][:limit] if lines else type(exc).__name__
    inner: BaseException = exc
    orig = getattr(exc, "orig", None)  # DBAPIError: the driver's own exception
    if isinstance(orig, BaseException):
        inner = orig
    text = str(inner).strip().splitlines()
    first = text[0].strip() if text else ""
    first = _PASSWORD_IN_URL.sub(r"\1***@", first)
    if len(first) > limit:
        first = first[: limit - 3] + "..."
    name = type(inner).__name__
    return f"{name}: {first}" if first else name


# --- per backend ----------------------------------------------------------------------------


def _parse(url: str) -> URL:
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        shown = _PASSWORD_IN_URL.sub(r"\1***@", url)
        raise ConfigError(f"invalid database URL {shown!r}") from exc
    if parsed.drivername in ("postgres", "postgresql", "postgresql+psycopg2", "postgres+psycopg"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _sqlite_engine(url: URL, *, busy_timeout_ms: int, echo: bool) -> Engine:
    database = url.database or ""
    in_memory = database in ("", ":memory:") or "mode=memory" in database
    kwargs: dict[str, Any] = {
        "connect_args": {"check_same_thread": False, "timeout": busy_timeout_ms / 1000},
        "echo": echo,
    }
    if in_memory:
        # One shared connection, or every pooled connection would see its own empty database.
        kwargs["poolclass"] = StaticPool
    elif not database.startswith("file:"):
        path = Path(database).expanduser()
        _create_private(path)
        url = url.set(database=str(path))
    engine = sa.create_engine(url, **kwargs)
    _bind_as_they_are()

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            if not in_memory:
                _enable_wal(cursor, busy_timeout_ms / 1000)
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    return engine


#: looked up in, it finds nothing: ``_NOTHING.get(None)`` is None, in C
_NOTHING: dict[Any, None] = {}


def _bind_as_they_are() -> None:
    """sqlite3 sends every parameter that is not exactly an int, float, str or bytearray through its
    adaptation protocol, which for ``None`` and ``bytes`` (most of a record's columns: its NULLs and
    packed bodies) fails two attribute lookups, formatting an error message in one, before binding
    the value as it is: 3.4 of the 8 µs a record's insert cost. Adapters that give them back as
    they are skip that (process-wide, and harmless: they are what sqlite3 binds anyway)."""
    sqlite3.register_adapter(bytes, bytes)  # bytes(b) is b itself
    sqlite3.register_adapter(type(None), _NOTHING.get)


def _create_private(path: Path) -> None:
    """Create the database file 0600 (and its directory 0700) when llmgate is the one creating them.

    The file holds every prompt and answer; SQLite gives its ``-wal`` and ``-shm`` files the
    database file's permissions, so they are private too. A file that already exists keeps its
    mode (the operator may have chosen it); one that others can read is named in a warning.
    """
    if not path.parent.exists():
        path.parent.parent.mkdir(parents=True, exist_ok=True)
        path.parent.mkdir(mode=0o700, exist_ok=True)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            log.warning("the database file %s can be read by other users (chmod 600 it)", path)
    except OSError:
        pass  # an unwritable place: SQLite reports it, with its own message, when it opens the file


def _enable_wal(cursor: Any, timeout_s: float) -> None:
    """Switch to WAL, waiting out other connections doing the same.

    Two connections switching a new file to WAL at once can get "database is locked" without
    SQLite calling the busy handler (several workers starting on a fresh file), so retry here.
    """
    deadline = time.monotonic() + timeout_s
    delay = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def _postgres_engine(
    url: URL, *, connect_timeout_s: int, pool_size: int, max_overflow: int, echo: bool
) -> Engine:
    connect_args: dict[str, Any] = {
        # libpq counts whole seconds and treats values below 2 as 2.
        "connect_timeout": max(2, int(connect_timeout_s)),
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 10,
        "keepalives_count": 3,
    }
    if "application_name" not in url.query:
        connect_args["application_name"] = "llmgate"
    return sa.create_engine(
        url,
        connect_args=connect_args,
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=10,
        pool_recycle=1800,
        echo=echo,
    )
