"""Migration 0020: the bodies packed by the writer. PostgreSQL's body columns become bytea (the
text stored so far kept as its UTF-8 bytes, lz4 as before); SQLite's stay as declared. Bodies
written before and after read back as written, a search finds both, and a downgrade (PostgreSQL)
unpacks every body into text again."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command
from sqlalchemy.engine import Engine
from test_bodies import ZSTD_MAGIC
from test_rollups import generated, store

from llmgate.store.migrate import alembic_config, upgrade
from llmgate.store.partitions import ensure_months
from llmgate.store.records import get_record, list_records
from llmgate.store.request_filter import RequestFilter
from support.shared_data import english

BODIES = ("request_json", "response_text", "tool_calls_json")


def to(engine: Engine, revision: str, *, down: bool = False) -> None:
    with engine.begin() as conn:
        (command.downgrade if down else command.upgrade)(alembic_config(conn), revision)


def stored_as_text(engine: Engine, count: int, seed: int) -> dict[str, dict[str, Any]]:
    """``count`` requests written as the store wrote them before 0020: bodies as text."""
    rows = generated(count, seed=seed)
    for row in rows:
        row["request_json"] = row["response_text"] = row["tool_calls_json"] = None
    store(engine, rows)
    bodies: dict[str, dict[str, Any]] = {}
    with engine.begin() as conn:
        for index, row in enumerate(rows):
            text = english(1200 + index)
            body = {
                "request_json": '{"messages": [{"content": "old é ' + str(index) + " " + text[:900] + '"}]}',
                "response_text": f"old answer {index} " + text[200:],
                "tool_calls_json": None if index % 2 else '[{"name": "f"}]',
            }
            params = {**body, "id": row["id"]}
            if engine.dialect.name == "sqlite":
                sql = "UPDATE requests SET request_json = :request_json, response_text = :response_text,"
                sql += " tool_calls_json = :tool_calls_json WHERE id = :id"
            else:
                sql = (
                    "UPDATE requests SET request_json = %(request_json)s, response_text = %(response_text)s,"
                )
                sql += " tool_calls_json = %(tool_calls_json)s WHERE id = %(id)s"
            conn.exec_driver_sql(sql, params)
            bodies[row["id"]] = body
    return bodies


def column_types(engine: Engine) -> dict[str, tuple[str, str]]:
    """The body columns of ``requests`` and of each month: type and compression (PostgreSQL; ``l``
    for lz4, 0019's, ``""`` where the server has no lz4)."""
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attcompression"
            " FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
            " WHERE a.attname IN ('request_json', 'response_text', 'tool_calls_json')"
            " AND (c.relname = 'requests' OR c.oid IN"
            "  (SELECT inhrelid FROM pg_inherits WHERE inhparent = to_regclass('requests')))"
        ).all()
    return {f"{table}.{column}": (kind, method) for table, column, kind, method in rows}


def lz4(engine: Engine) -> str:
    with engine.connect() as conn:
        built_with = conn.exec_driver_sql(
            "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
        ).scalar()
    return "l" if built_with else ""


def test_bodies_from_before_and_after_read_back_and_are_found(empty_engine: Engine) -> None:
    to(empty_engine, "0019")
    old = stored_as_text(empty_engine, 30, seed=11)

    upgrade(empty_engine)
    if empty_engine.dialect.name == "postgresql":
        ensure_months(empty_engine, [datetime(2031, 7, 1, tzinfo=UTC)])  # a month made after it
        types = column_types(empty_engine)
        assert "requests_p2031_07.request_json" in types and len(types) >= 3 * 3
        assert set(types.values()) == {("bytea", lz4(empty_engine))}, types
    new_rows = generated(30, seed=12)
    for index, row in enumerate(new_rows):
        row["request_json"] = '{"messages": [{"content": "new é ' + str(index) + " " + english(900) + '"}]}'
        row["response_text"] = f"new answer {index} " + english(1000)
    store(empty_engine, new_rows)

    for record_id, body in old.items():
        read = get_record(empty_engine, record_id)
        assert read is not None and {name: read[name] for name in BODIES} == body
    for row in new_rows:
        read = get_record(empty_engine, row["id"])
        assert read is not None and read["request_json"] == row["request_json"]
    with empty_engine.connect() as conn:
        raw = dict(conn.exec_driver_sql("SELECT id, request_json FROM requests").all())
    assert all(bytes(raw[row["id"]]).startswith(ZSTD_MAGIC) for row in new_rows)

    def found(text: str) -> int:
        return len(list_records(empty_engine, RequestFilter(text=text), limit=100))

    assert found("OLD É") == 30 and found("new é") == 30 and found("ANSWER") == 60
    assert found("old answer 7 ") == 1


@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
def test_a_downgrade_unpacks_every_body(empty_engine: Engine) -> None:
    to(empty_engine, "0019")
    old = stored_as_text(empty_engine, 10, seed=13)
    upgrade(empty_engine)
    new_rows = generated(10, seed=14)
    for index, row in enumerate(new_rows):
        row["request_json"] = english(2000 + index)
        row["response_text"] = "nul \x00 and " + english(1500)
    new_rows[0]["request_json"] = '{"short": 1}'  # kept as UTF-8, not packed: too short
    new_rows[0]["response_text"] = "short \x00 nul"
    store(empty_engine, new_rows)

    to(empty_engine, "0019", down=True)
    types = column_types(empty_engine)
    assert set(types.values()) == {("text", lz4(empty_engine))}, types
    with empty_engine.connect() as conn:
        stored = {
            row[0]: row[1:]
            for row in conn.exec_driver_sql(
                "SELECT id, request_json, response_text, tool_calls_json FROM requests"
            ).all()
        }
    for record_id, body in old.items():
        assert stored[record_id] == tuple(body[name] for name in BODIES)
    for row in new_rows:
        assert stored[row["id"]][:2] == (row["request_json"], row["response_text"].replace("\x00", "\ufffd"))
