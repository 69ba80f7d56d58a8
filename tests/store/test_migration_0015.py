"""Migration 0015 (datasets) on a store with data, up and down and up again, on SQLite and
PostgreSQL: both tables and their unique indexes come and go, every request recorded before stays."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Engine

from llmgate.store.datasets import add_items, get_dataset
from llmgate.store.migrate import alembic_config, current_revision
from llmgate.store.records import insert_records
from store.test_migration_0012 import index_sql

NOW = datetime.now(UTC).replace(microsecond=0)


def to(engine: Engine, revision: str, *, down: bool = False) -> None:
    with engine.begin() as conn:
        (command.downgrade if down else command.upgrade)(alembic_config(conn), revision)


def tables(engine: Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def test_0015_up_down_and_up_again(empty_engine: Engine) -> None:
    to(empty_engine, "0014")
    row = {
        "id": "a" * 32,
        "created_at": NOW,
        "endpoint": "chat/completions",
        "model": "gpt",
        "status": "success",
        "status_code": 200,
        "latency_ms": 1.0,
    }
    insert_records(empty_engine, [row])
    assert not {"datasets", "dataset_items"} & tables(empty_engine)

    to(empty_engine, "0015")
    assert current_revision(empty_engine) == "0015"
    for index in ("ux_datasets_name", "ux_dataset_items_request"):
        sql = index_sql(empty_engine, index)
        assert sql is not None and "UNIQUE" in sql.upper()
    item = {
        "request_id": "a" * 32,
        "model": "gpt",
        "created_at": NOW,
        "messages": [{"role": "user", "content": "q"}],
    }
    add_items(empty_engine, "d", [item], actor="a", create=True)
    assert add_items(empty_engine, "d", [item], actor="a").added == 0

    to(empty_engine, "0014", down=True)
    assert current_revision(empty_engine) == "0014"
    assert not {"datasets", "dataset_items"} & tables(empty_engine)
    with empty_engine.connect() as conn:
        assert [tuple(r) for r in conn.execute(sa.text("SELECT id FROM requests"))] == [("a" * 32,)]

    to(empty_engine, "0015")
    assert get_dataset(empty_engine, "d") is None
