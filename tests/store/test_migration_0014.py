"""Migration 0014 (scores) on a store with data, up and down and up again, on SQLite and PostgreSQL:
the table and its unique index come and go, and every request recorded before stays."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Engine

from llmgate.store.migrate import alembic_config, current_revision
from llmgate.store.records import insert_records
from llmgate.store.scores import put_score, request_scores
from store.test_migration_0012 import index_sql

NOW = datetime.now(UTC).replace(microsecond=0)


def to(engine: Engine, revision: str, *, down: bool = False) -> None:
    with engine.begin() as conn:
        (command.downgrade if down else command.upgrade)(alembic_config(conn), revision)


def tables(engine: Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def test_0014_up_down_and_up_again(empty_engine: Engine) -> None:
    to(empty_engine, "0013")
    row = {
        "id": "a" * 32,
        "created_at": NOW,
        "endpoint": "chat/completions",
        "model": "gpt",
        "status": "success",
        "status_code": 200,
        "latency_ms": 1.0,
        "session_id": "s1",
    }
    insert_records(empty_engine, [row])  # 0014 adds no column to requests: today's recorder writes 0013's
    assert "scores" not in tables(empty_engine)

    to(empty_engine, "0014")
    assert current_revision(empty_engine) == "0014"
    assert "scores" in tables(empty_engine)
    unique = index_sql(empty_engine, "ux_scores_target_name_source")
    assert unique is not None and "UNIQUE" in unique.upper()
    put_score(
        empty_engine, target_kind="request", target_id="a" * 32, name="thumbs", value=True, source="master"
    )
    with pytest.raises(sa.exc.IntegrityError), empty_engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO scores (target_kind, target_id, name, kind, value_num, source, created_at, "
                "updated_at) VALUES ('request', :id, 'thumbs', 'bool', 0, 'master', :now, :now)"
            ),
            {"id": "a" * 32, "now": NOW},
        )
    assert [s["value"] for s in request_scores(empty_engine, "a" * 32)] == [True]

    to(empty_engine, "0013", down=True)
    assert current_revision(empty_engine) == "0013"
    assert "scores" not in tables(empty_engine)
    assert index_sql(empty_engine, "ux_scores_target_name_source") is None
    with empty_engine.connect() as conn:
        kept = conn.execute(sa.text("SELECT id, session_id FROM requests")).all()
    assert [tuple(r) for r in kept] == [("a" * 32, "s1")]

    to(empty_engine, "0014")
    assert request_scores(empty_engine, "a" * 32) == []
