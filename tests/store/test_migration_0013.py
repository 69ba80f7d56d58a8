"""Migration 0013 (sessions) on a store with data, up and down and up again, on SQLite and PostgreSQL:
older requests read NULL in the new columns, ``ix_requests_session`` is partial (rows without a
session add nothing to it), and a downgrade gives back 0012's schema, its own partial indexes
included, with every older row intact."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Engine

from llmgate.store.call_sessions import session_calls
from llmgate.store.migrate import alembic_config, current_revision
from llmgate.store.records import get_record, insert_records
from store.test_migration_0012 import index_sql

NOW = datetime.now(UTC).replace(microsecond=0)
NEW_COLUMNS = {"session_id", "parent_id", "step"}


def to(engine: Engine, revision: str, *, down: bool = False) -> None:
    with engine.begin() as conn:
        (command.downgrade if down else command.upgrade)(alembic_config(conn), revision)


def columns(engine: Engine) -> set[str]:
    return {c["name"] for c in sa.inspect(engine).get_columns("requests")}


def where_clause(engine: Engine, name: str) -> str:
    sql = index_sql(engine, name)
    assert sql is not None and " WHERE " in sql.upper(), (name, sql)
    return sql.upper().split(" WHERE ", 1)[1].replace("(", "").replace(")", "")


def test_0013_up_down_and_up_again_with_data(empty_engine: Engine) -> None:
    to(empty_engine, "0012")
    with empty_engine.begin() as conn:  # a row recorded by 0012's llmgate
        conn.execute(
            sa.text(
                "INSERT INTO requests (id, created_at, endpoint, model, stream, status, status_code, "
                "tokens_estimated, cost_unknown, latency_ms, attempts, cache_hit, canary_id, arm) "
                "VALUES ('old1', :now, 'chat/completions', 'gpt', :no, 'success', 200, :no, :no, 1.5, 1, "
                ":no, 'gpt-v2', 'stable')"
            ),
            {"now": NOW, "no": False},
        )
    assert not NEW_COLUMNS & columns(empty_engine)

    to(empty_engine, "0013")  # (the head may be newer: 0014 adds scores)
    assert current_revision(empty_engine) == "0013"
    assert columns(empty_engine) >= NEW_COLUMNS
    old = get_record(empty_engine, "old1")
    assert old is not None and (old["session_id"], old["parent_id"], old["step"]) == (None, None, None)
    assert "SESSION_ID IS NOT NULL" in where_clause(empty_engine, "ix_requests_session")
    with empty_engine.connect() as conn:
        width = next(c for c in sa.inspect(conn).get_columns("requests") if c["name"] == "parent_id")["type"]
    assert getattr(width, "length", None) == 32

    parent = "a" * 32
    rows = [
        {
            "id": record_id,
            "created_at": NOW,
            "endpoint": "chat/completions",
            "model": "gpt",
            "status": "success",
            "status_code": 200,
            "latency_ms": 2.0,
            **extra,
        }
        for record_id, extra in (
            (parent, {"session_id": "run-1", "step": "plan"}),
            ("b" * 32, {"session_id": "run-1", "parent_id": parent, "step": "search"}),
            ("c" * 32, {}),
        )
    ]
    insert_records(empty_engine, rows)
    assert [(c["id"], c["parent_id"], c["step"]) for c in session_calls(empty_engine, "run-1")] == [
        (parent, None, "plan"),
        ("b" * 32, parent, "search"),
    ]

    # down to 0012: the columns and the index go; every row stays, 0012's partial indexes too
    to(empty_engine, "0012", down=True)
    assert current_revision(empty_engine) == "0012"
    assert not NEW_COLUMNS & columns(empty_engine)
    assert index_sql(empty_engine, "ix_requests_session") is None
    assert "CANARY_ID IS NOT NULL" in where_clause(empty_engine, "ix_requests_canary")
    for name in ("ix_requests_spend", "ix_requests_spend_pg", "ix_requests_created_at_model"):
        assert index_sql(empty_engine, name) is not None, name
    with empty_engine.connect() as conn:
        kept = conn.execute(sa.text("SELECT id, canary_id FROM requests ORDER BY id")).all()
    assert [tuple(r) for r in kept] == [
        (parent, None),
        ("b" * 32, None),
        ("c" * 32, None),
        ("old1", "gpt-v2"),
    ]

    # and up again: the session columns read NULL for every row, old and new
    to(empty_engine, "0013")
    assert current_revision(empty_engine) == "0013"
    assert session_calls(empty_engine, "run-1") == []
    again = get_record(empty_engine, "b" * 32)
    assert again is not None and (again["session_id"], again["parent_id"], again["step"]) == (
        None,
        None,
        None,
    )
