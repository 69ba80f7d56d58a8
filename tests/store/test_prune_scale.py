"""A 200k-row prune while the gateway's writer keeps inserting (issue 21's CI-sized prune). SQLite:
every row older than the cutoff goes, in 5,000-row transactions, and no insert of the writer waits
longer than about one batch (the pruner pauses between batches so a waiting writer gets its turn).
PostgreSQL: whole months go as tables, the rest in batches, the writer storing throughout."""

from __future__ import annotations

import os
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from llmgate.config.retention_settings import RetentionSettings
from llmgate.store.db import create_engine_for
from llmgate.store.migrate import upgrade
from llmgate.store.models import requests_table
from llmgate.store.partitions import ensure_months, month_of, month_partitions
from llmgate.store.prune import prune
from llmgate.store.records import insert_records
from support.postgres import postgres_schema

ROWS, OLD = 200_000, 50_000
NOW = datetime.now(UTC).replace(microsecond=0)
#: the rows, made by SQLite itself (seconds, where 200k inserts from Python take ten): UTC wall times
#: as store/columns.UTCDateTime writes them on SQLite
BULK = f"""
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {ROWS - 1})
INSERT INTO requests (id, created_at, endpoint, model, status, status_code, request_json,
                      response_text, latency_ms, stream, tokens_estimated, cost_unknown, attempts, cache_hit)
SELECT printf('%032x', i),
       CASE WHEN i < {OLD}
            THEN strftime('%Y-%m-%d %H:%M:%S', :now, '-' || (40 + i % 50) || ' days')
            ELSE strftime('%Y-%m-%d %H:%M:%S', :now, '-' || (i % 1000) || ' minutes') END || '.000000',
       'chat/completions', 'gpt', 'success', 200, '{{"messages": []}}', 'hello', 1.0, 0, 0, 0, 1, 0
FROM n
"""


def row(at: datetime) -> dict[str, Any]:
    return {
        "id": uuid.uuid4().hex,
        "created_at": at,
        "endpoint": "chat/completions",
        "model": "gpt",
        "status": "success",
        "status_code": 200,
        "request_json": '{"messages": [{"role": "user", "content": "hi"}]}',
        "response_text": "hello",
        "latency_ms": 1.0,
    }


def test_a_200k_row_prune_never_holds_the_writer_longer_than_a_batch(tmp_path: Path) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    requests = requests_table()
    with engine.begin() as conn:  # bulk, in SQL: the old rows (40 to 89 days old), then recent ones
        conn.exec_driver_sql(BULK, {"now": NOW.replace(tzinfo=None).isoformat(sep=" ", timespec="seconds")})
    batch_seconds: list[float] = []
    began: list[float] = []
    event.listen(engine, "begin", lambda conn: began.append(time.perf_counter()))
    event.listen(engine, "commit", lambda conn: batch_seconds.append(time.perf_counter() - began[-1]))

    writer = create_engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    waits: list[float] = []
    done = threading.Event()

    def write() -> None:
        while not done.is_set():
            started = time.perf_counter()
            insert_records(writer, [row(datetime.now(UTC))])
            waits.append(time.perf_counter() - started)
            time.sleep(0.005)

    thread = threading.Thread(target=write)
    thread.start()
    try:
        results = prune(engine, RetentionSettings(requests="30d", batch_size=5000))
    finally:
        done.set()
        thread.join()
    rows = next(r for r in results if r.table == "requests")
    assert rows.count == OLD
    assert rows.batches == OLD // 5000 + 1
    with engine.connect() as conn:
        left = conn.execute(sa.select(sa.func.count()).select_from(requests)).scalar_one()
        oldest = conn.execute(sa.select(sa.func.min(requests.c.created_at))).scalar_one()
    assert left == ROWS - OLD + len(waits)
    assert oldest >= NOW - timedelta(days=30)
    assert len(waits) > 20, "the writer kept inserting during the prune"
    longest_batch = max(batch_seconds)
    # a write waits at most for the batch in progress (plus its own time and the busy handler's sleep)
    assert max(waits) < longest_batch + 0.25, (max(waits), longest_batch)
    engine.dispose()
    writer.dispose()


#: the same rows on PostgreSQL, made by PostgreSQL itself
PG_BULK = f"""
INSERT INTO requests (id, created_at, endpoint, model, status, status_code, request_json,
                      response_text, latency_ms, stream, tokens_estimated, cost_unknown, attempts, cache_hit)
SELECT lpad(to_hex(i), 32, '0'),
       CASE WHEN i < {OLD} THEN %(now)s - make_interval(days => 40 + i %% 50)
            ELSE %(now)s - make_interval(mins => i %% 1000) END,
       'chat/completions', 'gpt', 'success', 200, '{{"messages": []}}', 'hello', 1.0, false, false, false, 1, false
FROM generate_series(0, {ROWS - 1}) AS i
"""


@pytest.mark.postgres
def test_a_200k_row_prune_on_postgresql_drops_months_while_the_writer_writes() -> None:
    """PostgreSQL, ``requests`` partitioned by month: the months wholly past the cutoff are dropped
    as tables, the rest of the old rows deleted in batches, and the writer keeps storing throughout
    (each drop holds it only for the moment of the drop)."""
    base = os.environ.get("LLMGATE_TEST_DATABASE_URL")
    if not base:
        pytest.skip("LLMGATE_TEST_DATABASE_URL is not set")
    with postgres_schema(base) as url:
        engine, writer = create_engine_for(url), create_engine_for(url)
        try:
            upgrade(engine)
            ensure_months(engine, [NOW - timedelta(days=day) for day in range(0, 95)])
            with engine.begin() as conn:
                conn.exec_driver_sql(PG_BULK, {"now": NOW})
            waits: list[float] = []
            errors: list[BaseException] = []
            done = threading.Event()

            def write() -> None:
                while not done.is_set():
                    started = time.perf_counter()
                    try:
                        insert_records(writer, [row(datetime.now(UTC))])
                    except BaseException as exc:  # reported below
                        errors.append(exc)
                        return
                    waits.append(time.perf_counter() - started)
                    time.sleep(0.005)

            thread = threading.Thread(target=write)
            thread.start()
            try:
                while len(waits) < 3 and not errors:  # the writer is at work before the prune starts
                    time.sleep(0.01)
                before = len(waits)
                results = prune(engine, RetentionSettings(requests="30d", batch_size=5000))
                during = len(waits) - before
            finally:
                done.set()
                thread.join()
            assert errors == []
            assert during >= 1, "the writer kept inserting during the prune"
            rows = next(r for r in results if r.table == "requests")
            cutoff = rows.cutoff
            whole = {month_of(NOW - timedelta(days=d)) for d in range(40, 90)} - {month_of(cutoff)}
            assert rows.count == OLD and rows.partitions >= len(whole) - 1 and rows.partitions >= 1
            with engine.connect() as conn:
                left = conn.execute(sa.select(sa.func.count()).select_from(requests_table())).scalar_one()
                oldest = conn.execute(sa.select(sa.func.min(requests_table().c.created_at))).scalar_one()
                months = set(month_partitions(conn))
            assert left == ROWS - OLD + len(waits) and oldest >= cutoff
            assert not {m for m in months if m < month_of(cutoff)}  # no month wholly before the cutoff
            assert max(waits) < 2.0, max(waits)
        finally:
            engine.dispose()
            writer.dispose()
