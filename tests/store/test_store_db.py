"""Engines from URLs: SQLite tuning, PostgreSQL fail-fast, ping, and errors that hide passwords."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.pool import StaticPool

from llmgate.errors import ConfigError, StoreError
from llmgate.store.db import create_engine_for, describe_error, ping


def test_sqlite_is_tuned_and_its_directory_created(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "llmgate.db"
    engine = create_engine_for(f"sqlite:///{path}", busy_timeout_ms=1234)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 1234
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert path.exists()
    finally:
        engine.dispose()


def test_sqlite_binds_nulls_blobs_and_text_as_they_are(tmp_path: Path) -> None:
    """An SQLite store takes ``None`` and ``bytes`` past sqlite3's adaptation (see ``db.py``): they
    must still land as NULL and BLOB, and every other kind as before."""
    engine = create_engine_for(f"sqlite:///{tmp_path / 'kinds.db'}")
    values = (None, b"\x28\xb5\x00packed", "text", 7, 2.5, bytearray(b"ba"))
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE kinds (a, b, c, d, e, f)")
            conn.exec_driver_sql("INSERT INTO kinds VALUES (?, ?, ?, ?, ?, ?)", [values, values])
            kinds = conn.exec_driver_sql(
                "SELECT typeof(a), typeof(b), typeof(c), typeof(d), typeof(e), typeof(f) FROM kinds"
            ).all()
            stored = conn.exec_driver_sql("SELECT * FROM kinds").first()
        assert kinds == [("null", "blob", "text", "integer", "real", "blob")] * 2
        assert stored == (None, b"\x28\xb5\x00packed", "text", 7, 2.5, b"ba")
    finally:
        engine.dispose()


def test_sqlite_in_memory_is_one_shared_database() -> None:
    engine = create_engine_for("sqlite://")
    try:
        assert isinstance(engine.pool, StaticPool)
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 0
    finally:
        engine.dispose()


def test_postgres_urls_mean_psycopg3() -> None:
    for url in ("postgres://u:p@h/db", "postgresql://u:p@h/db", "postgresql+psycopg://u:p@h/db"):
        engine = create_engine_for(url)
        assert engine.dialect.name == "postgresql"
        assert engine.dialect.driver == "psycopg"
        engine.dispose()


@pytest.mark.parametrize("url", ["mysql://u@h/db", "not a url"])
def test_unsupported_or_malformed_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        create_engine_for(url)


def test_config_error_does_not_show_the_password() -> None:
    with pytest.raises(ConfigError) as info:
        create_engine_for("mysql://user:hunter2@host/db")
    assert "hunter2" not in str(info.value)


def test_ping(engine: Engine) -> None:
    ping(engine)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_ping_a_dead_postgres_fails_fast_with_store_error() -> None:
    engine = create_engine_for(f"postgresql+psycopg://llmgate:secret-pw@127.0.0.1:{_closed_port()}/x")
    started = time.monotonic()
    try:
        with pytest.raises(StoreError) as info:
            ping(engine)
    finally:
        engine.dispose()
    assert time.monotonic() - started < 5
    assert "secret-pw" not in info.value.message


def test_ping_an_unopenable_sqlite_file_is_store_error(tmp_path: Path) -> None:
    directory = tmp_path / "is-a-directory.db"
    directory.mkdir()
    engine = create_engine_for(f"sqlite:///{directory}")
    try:
        with pytest.raises(StoreError):
            ping(engine)
    finally:
        engine.dispose()


def test_describe_error_is_one_line_without_passwords() -> None:
    exc = RuntimeError("connect to postgresql://admin:pa55@db:5432/x failed\nDETAIL: secret row data")
    text = describe_error(exc)
    assert "pa55" not in text
    assert "secret row data" not in text
    assert text.startswith("RuntimeError: ")
