"""A canary's evidence (store/canary_evidence.py): its requests and the monitor's samples of them,
paged by a (time, id) cursor that takes every row once however many share a time, never another
canary's or a plain request; on SQLite and PostgreSQL, through the partial index."""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from llmgate.store.canaries import EVIDENCE_TEXT_CHARS, arm_counts, evidence_rows, quality_rows
from llmgate.store.monitors import insert_samples
from llmgate.store.records import insert_records

T0 = datetime(2026, 11, 20, 8, 0, 0, 500000, tzinfo=UTC)
EVIDENCE_KEYS = {
    "id", "created_at", "arm", "status", "status_code", "attempts", "latency_ms", "ttft_ms", "stream",
    "cost_usd", "response_chars", "finish_reason", "response_text",
}  # fmt: skip


def request(i: int, *, canary_id: str | None = "chat-v2", at: datetime = T0, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"{i:032x}",
        "created_at": at,
        "endpoint": "chat/completions",
        "model": "chat-model",
        "status": "success",
        "status_code": 200,
        "latency_ms": 100.0 + i,
        "canary_id": canary_id,
        "arm": ("candidate" if i % 2 else "stable") if canary_id else None,
        **extra,
    }


def page_all(read: Any, limit: int) -> tuple[list[dict[str, Any]], int]:
    """Every row ``read`` gives, page by page from no cursor; and how many reads that took."""
    rows: list[dict[str, Any]] = []
    cursor, reads = None, 0
    while True:
        page, cursor = read(cursor, limit)
        reads += 1
        if not page:
            return rows, reads
        rows += page


def test_evidence_rows_page_through_ties_in_order(engine: Engine) -> None:
    # 5 requests share each of 3 times, written out of order; plain and other-canary requests beside
    times = [T0, T0 + timedelta(microseconds=1), T0 + timedelta(seconds=2)]
    mine = [request(i, at=times[i % 3]) for i in range(15)]
    others = [request(100 + i, canary_id=None) for i in range(5)]
    others += [request(200 + i, canary_id="embed-v2") for i in range(5)]
    insert_records(engine, list(reversed(mine)) + others)

    rows, reads = page_all(lambda after, limit: evidence_rows(engine, "chat-v2", after, limit), 4)
    expected = sorted(mine, key=lambda r: (r["created_at"], r["id"]))
    assert [(r["created_at"], r["id"]) for r in rows] == [(r["created_at"], r["id"]) for r in expected]
    assert reads == 5  # 4 + 4 + 4 + 3, then an empty read
    assert {r["arm"] for r in rows} == {"stable", "candidate"}
    assert all(set(r) == EVIDENCE_KEYS for r in rows)
    # a cursor past the end returns it unchanged; "until" leaves out what is at or after it
    last = (rows[-1]["created_at"], rows[-1]["id"])
    assert evidence_rows(engine, "chat-v2", last) == ([], last)
    early, cursor = evidence_rows(engine, "chat-v2", None, until=times[2])
    assert len(early) == 10 and cursor == (early[-1]["created_at"], early[-1]["id"])
    assert evidence_rows(engine, "nope", None) == ([], None)


def test_evidence_values_as_the_gates_use_them(engine: Engine) -> None:
    long_text = "x" * (EVIDENCE_TEXT_CHARS + 500)
    insert_records(
        engine,
        [
            request(
                1,
                stream=True,
                ttft_ms=12.5,
                attempts=3,
                cost_usd=Decimal("0.0000012345"),
                response_text=long_text,
                response_chars=len(long_text),
                finish_reason="length",
            ),
            request(2, status="error", status_code=502, cost_usd=None),
        ],
    )
    (one, two), _ = evidence_rows(engine, "chat-v2", None)
    assert one["cost_usd"] == 0.0000012345 and isinstance(one["cost_usd"], float)
    assert one["response_text"] == "x" * EVIDENCE_TEXT_CHARS and one["response_chars"] == len(long_text)
    assert (one["stream"], one["ttft_ms"], one["attempts"], one["finish_reason"], one["arm"]) == (
        True,
        12.5,
        3,
        "length",
        "candidate",
    )
    assert (two["status"], two["status_code"], two["cost_usd"], two["response_text"]) == (
        "error",
        502,
        None,
        None,
    )
    assert arm_counts(engine, "chat-v2") == {"candidate": 1, "stable": 1}


def test_arm_counts_since(engine: Engine) -> None:
    insert_records(
        engine, [request(i, at=T0 + timedelta(minutes=i)) for i in range(10)] + [request(50, canary_id=None)]
    )
    assert arm_counts(engine, "chat-v2") == {"stable": 5, "candidate": 5}
    assert arm_counts(engine, "chat-v2", since=T0 + timedelta(minutes=6)) == {"stable": 2, "candidate": 2}
    assert arm_counts(engine, "nope") == {}


def vector(*values: float) -> bytes:
    return struct.pack(f"<{len(values)}f", *values)


def sample(i: int, at: datetime, **scores: Any) -> dict[str, Any]:
    return {
        "record_id": f"{i:032x}",
        "created_at": T0,
        "sampled_at": at,
        "model": "chat-model",
        "route": "chat/completions",
        "embedder": "test",
        "dim": 2,
        **scores,
    }


def test_quality_rows_join_samples_to_the_canarys_requests(engine: Engine) -> None:
    insert_records(engine, [request(i) for i in range(12)] + [request(50, canary_id=None)])
    later = T0 + timedelta(minutes=5)
    samples = [
        sample(
            i,
            later if i < 8 else later + timedelta(seconds=1),  # ties on sampled_at
            groundedness=i / 10,
            context_relevance=0.5,
            answer_relevance=0.75,
            response_vector=vector(1.0, float(i)) if i % 3 else None,
        )
        for i in range(10)
    ]
    insert_samples(engine, [*samples, sample(50, later, groundedness=0.0)])  # not the canary's

    rows, reads = page_all(lambda after, limit: quality_rows(engine, "chat-v2", after, limit), 3)
    assert [r["record_id"] for r in rows] == [f"{i:032x}" for i in range(10)]
    assert reads == 5
    by_id = {r["record_id"]: r for r in rows}
    three = by_id[f"{3:032x}"]
    assert (three["arm"], three["groundedness"], three["context_relevance"], three["answer_relevance"]) == (
        "candidate",
        0.3,
        0.5,
        0.75,
    )
    assert three["response_vector"] is None and three["dim"] == 2
    four = by_id[f"{4:032x}"]
    assert four["arm"] == "stable" and four["response_vector"] == vector(1.0, 4.0)
    assert type(four["response_vector"]) is bytes
    assert set(four) == {
        "record_id", "sampled_at", "arm", "groundedness", "context_relevance", "answer_relevance",
        "response_vector", "dim",
    }  # fmt: skip
    # samples taken later are read from the cursor on
    cursor = (rows[-1]["sampled_at"], rows[-1]["record_id"])
    insert_samples(engine, [sample(11, later + timedelta(minutes=1), groundedness=1.0)])
    fresh, moved = quality_rows(engine, "chat-v2", cursor)
    assert [r["record_id"] for r in fresh] == [f"{11:032x}"] and moved == (
        fresh[0]["sampled_at"],
        f"{11:032x}",
    )


def test_the_canary_read_goes_through_the_partial_index(engine: Engine) -> None:
    """Calls outside a canary (almost all) are not in the index the canary's read goes through."""
    outside = [request(100 + i, canary_id=None) for i in range(2000)]
    insert_records(engine, [request(i) for i in range(20)] + outside)
    after = (T0, f"{3:032x}")
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("ANALYZE requests")
            plan = " ".join(
                conn.execute(
                    sa.text(
                        "EXPLAIN SELECT id FROM requests WHERE canary_id = :c AND (created_at, id) > (:t, :i) "
                        "ORDER BY created_at, id LIMIT 10"
                    ),
                    {"c": "chat-v2", "t": after[0], "i": after[1]},
                ).scalars()
            )
            definition = conn.exec_driver_sql(
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_requests_canary' AND schemaname = current_schema()"
            ).scalar_one()
            # requests is partitioned by month (store/partitions.py): each month has its own copy
            months = conn.exec_driver_sql(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'ix_requests_canary'::regclass"
            ).scalars()
            plan = " ".join(["ix_requests_canary" if name in plan else "" for name in months]) + plan
        else:
            plan = " ".join(
                str(row[-1])
                for row in conn.exec_driver_sql(
                    "EXPLAIN QUERY PLAN SELECT id FROM requests WHERE canary_id = ? AND (created_at, id) > (?, ?) "
                    "ORDER BY created_at, id LIMIT 10",
                    ("chat-v2", after[0].replace(tzinfo=None).isoformat(sep=" "), after[1]),
                )
            )
            definition = conn.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE name = 'ix_requests_canary'"
            ).scalar_one()
    assert "ix_requests_canary" in plan, plan
    assert "WHERE" in definition.upper() and "canary_id IS NOT NULL" in definition.replace("(", "").replace(
        ")", ""
    )
    rows, _ = evidence_rows(engine, "chat-v2", after)
    assert len(rows) == 16
