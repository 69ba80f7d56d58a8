"""Migration 0019 (PostgreSQL): the requests' bodies compressed with lz4, in every month that
exists and in the months created after it; a downgrade goes back to the server's default.
(0020 packs the bodies in the writer: these tests stop at 0019.)"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command
from sqlalchemy.engine import Engine
from test_rollups import generated, store

from llmgate.store.migrate import alembic_config
from llmgate.store.partitions import ensure_months
from support.shared_data import english


def to(engine: Engine, revision: str, *, down: bool = False) -> None:
    with engine.begin() as conn:
        (command.downgrade if down else command.upgrade)(alembic_config(conn), revision)


def compression(engine: Engine) -> dict[str, set[str]]:
    """Per table (``requests`` and each month): the compression methods its body columns name."""
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT c.relname, a.attcompression FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
            " WHERE a.attname IN ('request_json', 'response_text', 'tool_calls_json')"
            " AND (c.relname = 'requests' OR c.oid IN"
            "  (SELECT inhrelid FROM pg_inherits WHERE inhparent = to_regclass('requests')))"
        ).all()
    out: dict[str, set[str]] = {}
    for table, method in rows:
        out.setdefault(table, set()).add(method)
    return out


def store_text(engine: Engine, rows: list[dict[str, Any]]) -> None:
    """``rows`` stored with 4 KB bodies of English (pglz would keep them as they are), written as
    text as the store did before 0020 packed them (``test_migration_0020``)."""
    for row in rows:
        row["request_json"] = row["response_text"] = row["tool_calls_json"] = None
    store(engine, rows)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE requests SET request_json = %(request)s, response_text = %(response)s"
            " WHERE id = ANY(%(ids)s)",
            {"request": english(4000), "response": english(3000), "ids": [row["id"] for row in rows]},
        )


@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
def test_0019_compresses_the_bodies_with_lz4_in_every_month(empty_engine: Engine) -> None:
    with empty_engine.connect() as conn:
        built_with_lz4 = conn.exec_driver_sql(
            "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
        ).scalar()
    if not built_with_lz4:
        pytest.skip("this PostgreSQL was built without lz4")
    to(empty_engine, "0018")
    rows = generated(50, seed=5)
    store_text(empty_engine, rows)  # March 2026: a month that exists before the upgrade
    before = compression(empty_engine)
    assert before and all(methods == {""} for methods in before.values())  # the server's default

    to(empty_engine, "0019")
    ensure_months(empty_engine, [datetime(2031, 7, 1, tzinfo=UTC)])  # a month made after it
    after = compression(empty_engine)
    assert {"requests", "requests_p2026_03", "requests_p2031_07"} <= set(after)
    assert all(methods == {"l"} for methods in after.values()), after

    later = generated(20, seed=6)
    store_text(empty_engine, later)
    with empty_engine.connect() as conn:
        methods = conn.exec_driver_sql(
            "SELECT pg_column_compression(request_json), count(*) FROM requests"
            " WHERE id = ANY(%(ids)s) GROUP BY 1",
            {"ids": [row["id"] for row in later]},
        ).all()
        # bodies read back as they were written, whichever method stored them
        stored = conn.exec_driver_sql(
            "SELECT response_text FROM requests WHERE id = %(id)s", {"id": rows[0]["id"]}
        ).scalar()
    assert methods == [("lz4", 20)]
    assert stored == english(3000)

    to(empty_engine, "0018", down=True)
    assert all(methods == {""} for methods in compression(empty_engine).values())
