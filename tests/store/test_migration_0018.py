"""Migration 0018 (``rollup_traffic``) on SQLite and PostgreSQL: the upgrade fills it from the hour
level (so the overview reads the same as before), the writer keeps it from then on, and a
downgrade drops it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Engine
from test_rollups import generated, store, traffic_from_hours, traffic_rows

from llmgate.store.db import create_engine_for
from llmgate.store.migrate import alembic_config, upgrade
from llmgate.store.records import insert_records
from llmgate.store.traffic import raw_traffic_series, traffic_series


def to(engine: Engine, revision: str, *, down: bool = False) -> None:
    with engine.begin() as conn:
        (command.downgrade if down else command.upgrade)(alembic_config(conn), revision)


def test_0018_fills_the_traffic_level_from_the_hours_and_the_writer_keeps_it(
    empty_engine: Engine, store_url: str
) -> None:
    to(empty_engine, "0017")
    start = datetime(2026, 3, 5, 3, 17, tzinfo=UTC)
    store(empty_engine, generated(800, seed=3, start=start))  # hour level kept, no traffic table yet
    upgrade(empty_engine)
    assert traffic_rows(empty_engine) == traffic_from_hours(empty_engine)
    assert sum(r[2] for r in traffic_rows(empty_engine)) == 800

    later = create_engine_for(store_url)  # a writer started after the upgrade
    try:
        insert_records(later, generated(200, seed=4, start=start))
    finally:
        later.dispose()
    assert traffic_rows(empty_engine) == traffic_from_hours(empty_engine)
    since, until = start.replace(minute=0), start + timedelta(days=7)
    series, raw = (
        f(empty_engine, since, until, 6 * 3600, "UTC") for f in (traffic_series, raw_traffic_series)
    )
    assert series.totals.requests == raw.totals.requests == 1_000
    assert series.totals.cost_usd == raw.totals.cost_usd

    to(empty_engine, "0017", down=True)
    assert "rollup_traffic" not in sa.inspect(empty_engine).get_table_names()
