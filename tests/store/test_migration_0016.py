"""Migration 0016 (rollups) on SQLite and PostgreSQL: on a store with records the hour level starts
at the next whole hour (the raw rows answer before it, so reports read the same as before the
upgrade); on an empty store it covers everything; down drops the three tables and keeps every row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Engine

from llmgate.store.migrate import alembic_config
from llmgate.store.records import count_records, insert_records
from llmgate.store.rollup_reads import spend_sums
from llmgate.store.rollups import EVERYTHING, read_coverage
from llmgate.store.spend import raw_spend_sums

TABLES = {"rollup_hours", "rollup_days", "rollup_coverage"}


def to(engine: Engine, revision: str, *, down: bool = False) -> None:
    with engine.begin() as conn:
        (command.downgrade if down else command.upgrade)(alembic_config(conn), revision)


def tables(engine: Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def rows(at: datetime, count: int) -> list[dict[str, object]]:
    return [
        {
            "id": f"{at:%Y%m%d%H}{index:022d}",
            "created_at": at + timedelta(minutes=index),
            "endpoint": "chat/completions",
            "model": "gpt",
            "status": "success",
            "status_code": 200,
            "latency_ms": 1.0,
            "cost_usd": Decimal("0.0000000003"),
        }
        for index in range(count)
    ]


def test_0016_on_a_store_with_records(empty_engine: Engine) -> None:
    to(empty_engine, "0015")
    before = datetime.now(UTC) - timedelta(days=3)
    insert_records(empty_engine, rows(before, 30))  # no rollups at 0015: stored without them
    to(empty_engine, "0016")
    assert tables(empty_engine) >= TABLES
    with empty_engine.connect() as conn:
        coverage = read_coverage(conn)
    next_hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    assert coverage.hours_from in (next_hour, next_hour - timedelta(hours=1))  # an hour may have turned
    assert coverage.day_level is None  # serve names the zone
    since = before - timedelta(days=1)
    for dimensions in ([], ["date"], ["model"]):
        assert spend_sums(empty_engine, dimensions, since) == raw_spend_sums(empty_engine, dimensions, since)
    assert spend_sums(empty_engine, [], since)[0].requests == 30

    to(empty_engine, "0015", down=True)
    assert not TABLES & tables(empty_engine)
    assert count_records(empty_engine) == 30


def test_0016_on_an_empty_store_covers_everything(empty_engine: Engine) -> None:
    to(empty_engine, "0016")
    with empty_engine.connect() as conn:
        assert read_coverage(conn).hours_from == EVERYTHING
