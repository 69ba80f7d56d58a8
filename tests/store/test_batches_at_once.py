"""Batches written at once, as the writer process writes them on PostgreSQL (``StoreWriter.
writes_at_once``): every record stored once, the rollups exactly what a rebuild sums from the raw
rows, and a transaction PostgreSQL picks as a deadlock's victim stored again, not spilled."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from llmgate.recording.recorder import Recorder
from llmgate.store.db import create_engine_for
from llmgate.store.migrate import upgrade
from llmgate.store.records import StoreWriter, count_records, insert_records
from llmgate.store.rollup_tables import ROLLUP_HOURS
from llmgate.store.rollups import rebuild_rollups
from store.test_rollups import START, generated
from support.postgres import postgres_schema
from support.rollups import rollup_snapshot

TZ = "America/New_York"


async def test_batches_written_at_once_keep_the_rollups_exact(engine: Engine, tmp_path: Path) -> None:
    """Small batches over a few hours, so that batches in flight together upsert the same groups
    (and every batch the one traffic row of its hour): the rollups come out as a rebuild sums the
    rows, group for group. PostgreSQL writes several batches at once; SQLite one at a time."""
    writer = StoreWriter(engine, TZ)
    busy, most, lock = [0], [0], threading.Lock()

    def write(rows: list[dict[str, object]]) -> None:
        with lock:
            busy[0] += 1
            most[0] = max(most[0], busy[0])
        try:
            writer(rows)
        finally:
            with lock:
                busy[0] -= 1

    recorder = Recorder(
        write, tmp_path / "spill", batch_size=60, flush_interval_s=0.02, writes_at_once=writer.writes_at_once
    )
    rows = generated(3_000, seed=29, span=timedelta(hours=5))
    await recorder.start()
    for row in rows:
        recorder.submit(row)
    await recorder.flush()
    await recorder.stop()

    expected = 1 if engine.dialect.name == "sqlite" else writer.writes_at_once
    assert most[0] == expected
    stats = recorder.stats()
    assert stats["written"] == 3_000 and stats["spilled"] == 0 and stats["last_error"] is None
    assert count_records(engine) == 3_000
    kept = rollup_snapshot(engine)
    assert sum(row[ROLLUP_HOURS.c.keys().index("requests")] for row in kept[0]) == 3_000
    rebuild_rollups(engine, START)
    assert rollup_snapshot(engine) == kept


@pytest.fixture
def pg_url() -> Iterator[str]:
    base = os.environ.get("LLMGATE_TEST_DATABASE_URL")
    if not base:
        pytest.skip("LLMGATE_TEST_DATABASE_URL is not set")
    with postgres_schema(base) as url:
        yield url


def touch(grain: str) -> sa.Update:
    """An update that locks the hourly group ``grain`` and changes nothing."""
    return ROLLUP_HOURS.update().where(ROLLUP_HOURS.c.grain == grain).values(requests=ROLLUP_HOURS.c.requests)


def _waiting_on_a_lock(libpq: str, application: str) -> bool:
    with psycopg.connect(libpq, autocommit=True) as conn:
        found = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s AND wait_event_type = 'Lock'",
            (application,),
        ).fetchone()
    return bool(found and found[0])


@pytest.mark.postgres
def test_a_deadlock_victim_is_stored_again(pg_url: str) -> None:
    """Another transaction holds the second of a batch's two hourly groups and then asks for the
    first, which the writer holds: PostgreSQL breaks the cycle by rolling the writer's transaction
    back (its ``deadlock_timeout`` is the shorter, and longer than the cycle takes to form), and
    the writer stores the batch again once the other commits: once, the rollups counting it once."""
    url = make_url(pg_url)
    options = url.query["options"]
    writer_url = url.update_query_dict(
        {"options": f"{options} -cdeadlock_timeout=300ms", "application_name": "llmgate-victim"}
    )
    engine = create_engine_for(writer_url.render_as_string(hide_password=False))
    other_url = url.update_query_dict({"options": f"{options} -cdeadlock_timeout=10s"})
    other = create_engine_for(other_url.render_as_string(hide_password=False))
    try:
        upgrade(engine)
        first = generated(2, seed=3, span=timedelta(minutes=1))
        first[0]["user"], first[1]["user"] = "alice", "bob"  # two hourly groups, else alike
        for key in ("team_id", "key_id", "model", "deployment", "provider", "endpoint", "tags_json"):
            first[1][key] = first[0][key]
        first[1]["status"], first[1]["status_code"] = first[0]["status"], first[0]["status_code"]
        insert_records(engine, first)
        with other.connect() as conn:
            low, high = conn.execute(sa.select(ROLLUP_HOURS.c.grain).order_by(ROLLUP_HOURS.c.grain)).scalars()
        again = [dict(row, id=row["id"][::-1]) for row in first]  # the same two groups, new requests

        stored: list[int] = []
        thread = threading.Thread(target=lambda: stored.append(insert_records(engine, again)))
        with other.connect() as conn:
            conn.execute(touch(high))
            thread.start()  # locks the low group, then waits for the high one
            libpq = url.set(drivername="postgresql", query={}).render_as_string(hide_password=False)
            deadline = time.monotonic() + 10
            while not _waiting_on_a_lock(libpq, "llmgate-victim"):
                assert time.monotonic() < deadline, "the writer never waited for the high group"
                time.sleep(0.01)
            # the cycle: the writer is rolled back, which lets this one through
            conn.execute(touch(low))
            conn.commit()
        thread.join(10)
        assert stored == [2]
        assert count_records(engine) == 4
        with other.connect() as conn:
            counts = dict(conn.execute(sa.select(ROLLUP_HOURS.c.grain, ROLLUP_HOURS.c.requests)).all())
        assert counts == {low: 2, high: 2}
    finally:
        engine.dispose()
        other.dispose()
