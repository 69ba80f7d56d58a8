"""PostgreSQL's ``requests`` partitioned by month (migration 0017, ``store/partitions.py``): the
migration moves existing rows into months and back, writers create the months they need (also when
two race, or a prune dropped one under them), a replay is still stored once, and retention drops
whole months then deletes the rest in batches."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Engine

from llmgate.config.retention_settings import RetentionSettings
from llmgate.store.db import create_engine_for
from llmgate.store.migrate import alembic_config
from llmgate.store.partitions import MONTHS_AHEAD, drop_before, is_partitioned, month_of, month_partitions
from llmgate.store.prune import prune
from llmgate.store.records import InvalidRecord, count_records, get_record, insert_records
from llmgate.store.rollup_reads import spend_sums

pytestmark = [pytest.mark.postgres, pytest.mark.parametrize("store_url", ["postgres"], indirect=True)]

NOW = datetime(2026, 7, 10, 12, 0, tzinfo=UTC)


def rows(start: datetime, count: int, step: timedelta, prefix: str = "r") -> list[dict[str, Any]]:
    return [
        {
            "id": f"{prefix}{index:031d}",
            "created_at": start + step * index,
            "endpoint": "chat/completions",
            "model": "gpt",
            "status": "success",
            "status_code": 200,
            "latency_ms": 10.0 + index,
            "cost_usd": Decimal("0.0000000007") * (index + 1),
            "request_json": '{"messages": []}',
            "response_text": f"answer {index}",
        }
        for index in range(count)
    ]


def months(engine: Engine) -> set[tuple[int, int]]:
    with engine.connect() as conn:
        return set(month_partitions(conn))


def primary_key(engine: Engine) -> list[str]:
    return list(sa.inspect(engine).get_pk_constraint("requests")["constrained_columns"])


def to(engine: Engine, revision: str, *, down: bool = False) -> None:
    with engine.begin() as conn:
        (command.downgrade if down else command.upgrade)(alembic_config(conn), revision)


@pytest.fixture
def other_engine(store_url: str) -> Iterator[Engine]:
    engine = create_engine_for(store_url)
    yield engine
    engine.dispose()


def test_requests_is_partitioned_by_month_from_now_on(engine: Engine) -> None:
    with engine.connect() as conn:
        assert is_partitioned(conn)
    assert primary_key(engine) == ["id", "created_at"]
    first = month_of(datetime.now(UTC))
    found = sorted(months(engine))
    assert found[0] == first and len(found) == MONTHS_AHEAD + 1  # an empty store: now and ahead


def test_a_record_in_a_month_without_a_partition_gets_one(engine: Engine) -> None:
    old, future = (
        rows(datetime(2024, 3, 15, tzinfo=UTC), 3, timedelta(days=1)),
        rows(datetime(2031, 7, 31, 23, 0, tzinfo=UTC), 3, timedelta(hours=1), prefix="f"),
    )
    assert insert_records(engine, old + future) == 6
    assert {(2024, 3), (2031, 7), (2031, 8)} <= months(engine)
    stored = get_record(engine, future[2]["id"])
    assert stored is not None and stored["created_at"] == datetime(2031, 8, 1, 1, 0, tzinfo=UTC)
    assert insert_records(engine, old + future) == 0  # replayed: stored once
    assert count_records(engine) == 6


def test_two_writers_creating_the_same_months_both_store(engine: Engine, other_engine: Engine) -> None:
    start = datetime(2023, 1, 20, tzinfo=UTC)
    batches = [rows(start, 40, timedelta(days=2), prefix=p) for p in ("a", "b")]
    barrier, errors = threading.Barrier(2), []

    def write(target: Engine, batch: list[dict[str, Any]]) -> None:
        try:
            barrier.wait()
            insert_records(target, batch)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=write, args=args)
        for args in ((engine, batches[0]), (other_engine, batches[1]))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert count_records(engine) == 80
    assert {(2023, m) for m in range(1, 5)} <= months(engine)


def test_a_month_dropped_under_a_writer_is_made_again_for_a_late_record(
    engine: Engine, other_engine: Engine
) -> None:
    january = rows(datetime(2025, 1, 5, tzinfo=UTC), 2, timedelta(days=1))
    insert_records(engine, january[:1])  # this engine now knows January exists
    assert [d.rows for d in drop_before(other_engine, datetime(2025, 2, 1, tzinfo=UTC))] == [1]
    assert insert_records(engine, january[1:]) == 1  # a spill replayed late: January again
    assert (2025, 1) in months(engine) and count_records(engine) == 1


def test_prune_drops_whole_months_then_deletes_the_rest_in_batches(engine: Engine) -> None:
    stored = rows(datetime(2026, 1, 1, tzinfo=UTC), 180, timedelta(hours=23))  # January into June
    insert_records(engine, stored)
    cutoff = NOW - timedelta(days=100)  # 2026-04-01 12:00: Jan-Mar go whole, April in batches
    before = spend_sums(engine, [], datetime(2025, 1, 1, tzinfo=UTC), NOW, "UTC")
    settings = RetentionSettings(requests="100d", batch_size=100)
    result = next(r for r in prune(engine, settings, now=NOW) if r.table == "requests")
    old = [r for r in stored if r["created_at"] < cutoff]
    assert result.count == len(old) and result.partitions == 3
    assert "3 months dropped whole" in result.line()
    assert not {(2026, 1), (2026, 2), (2026, 3)} & months(engine)
    assert {(2026, m) for m in range(4, 10)} <= months(engine)  # and ahead of NOW
    with engine.connect() as conn:
        left = conn.exec_driver_sql("SELECT id FROM requests ORDER BY id").scalars().all()
    assert left == [r["id"] for r in stored if r["created_at"] >= cutoff]
    # the rollups keep what the rows said
    assert spend_sums(engine, [], datetime(2025, 1, 1, tzinfo=UTC), NOW, "UTC") == before


def test_0017_moves_existing_rows_into_months_and_back(empty_engine: Engine) -> None:
    to(empty_engine, "0016")
    stored = rows(datetime(2025, 11, 3, tzinfo=UTC), 60, timedelta(days=3))  # November to April
    insert_records(empty_engine, stored)
    with empty_engine.begin() as conn:  # an operator's own index is kept
        conn.exec_driver_sql('CREATE INDEX ix_ops_user ON requests ("user", created_at)')
    with empty_engine.connect() as conn:
        before = conn.exec_driver_sql("SELECT * FROM requests ORDER BY id").all()

    to(empty_engine, "0017")  # 0020 turns the bodies into bytea (test_migration_0020)
    with empty_engine.connect() as conn:
        assert is_partitioned(conn)
        assert conn.exec_driver_sql("SELECT * FROM requests ORDER BY id").all() == before
        per_month = dict(
            conn.exec_driver_sql("SELECT tableoid::regclass::text, count(*) FROM requests GROUP BY 1").all()
        )
    assert per_month["requests_p2025_11"] == 10 and sum(per_month.values()) == 60
    assert {(2025, 11), (2025, 12), (2026, 4), month_of(datetime.now(UTC))} <= months(empty_engine)
    assert primary_key(empty_engine) == ["id", "created_at"]
    indexes = {index["name"] for index in sa.inspect(empty_engine).get_indexes("requests")}
    assert {
        "ix_requests_created_at_model",
        "ix_requests_canary",
        "ix_requests_session",
        "ix_ops_user",
    } <= indexes
    assert not {"ix_requests_created_at", "ix_requests_status"} & indexes  # two that only cost inserts
    assert insert_records(empty_engine, stored) == 0  # still idempotent

    to(empty_engine, "0016", down=True)
    with empty_engine.connect() as conn:
        assert not is_partitioned(conn)
        assert conn.exec_driver_sql("SELECT * FROM requests ORDER BY id").all() == before
    assert primary_key(empty_engine) == ["id"]
    indexes = {index["name"] for index in sa.inspect(empty_engine).get_indexes("requests")}
    assert {
        "ix_ops_user",
        "ix_requests_created_at",
        "ix_requests_status",
        "ix_requests_created_at_model",
    } <= indexes


def test_a_record_without_a_time_is_refused_as_invalid(engine: Engine) -> None:
    """The months are looked up before the insert; a row without ``created_at`` is still the
    insert's to refuse, as an invalid record (the writer sets it aside), not a crash."""
    bad = rows(datetime(2026, 5, 1, tzinfo=UTC), 1, timedelta(hours=1))
    bad[0]["created_at"] = None
    with pytest.raises(InvalidRecord):
        insert_records(engine, bad)
    assert count_records(engine) == 0
