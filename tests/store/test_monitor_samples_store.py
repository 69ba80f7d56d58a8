"""``monitor_samples`` with mixed traffic: RAG requests (with retrieval-quality scores) and plain
ones (without) stored in one batch, whichever comes first; and the monitor's health row.

On SQLite, and on PostgreSQL when LLMGATE_TEST_DATABASE_URL is set (``conftest.py``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from llmgate.store import monitors as queries
from llmgate.store.models import table
from llmgate.store.monitor_health import load_health, update_health

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _sample(n: int, *, rag: bool) -> dict[str, Any]:
    """A sample as the worker builds it: a plain request has no score keys at all."""
    row: dict[str, Any] = {
        "record_id": f"{n:032x}",
        "created_at": NOW + timedelta(seconds=n),
        "sampled_at": NOW + timedelta(minutes=1),
        "model": "gpt-4o-mini",
        "route": "chat/completions",
        "embedder": "all-MiniLM-L6-v2",
        "dim": 2,
        "prompt_vector": b"\x00\x00\x80?\x00\x00\x00\x00",
        "response_vector": None,
        "prompt_excerpt": f"question {n}",
        "response_chars": 12,
        "refused": False,
        "finish_reason": "stop",
        "tool_call": False,
        "error": False,
        "latency_ms": 100.0,
        "prompt_tokens": 9,
        "completion_tokens": 3,
    }
    if rag:
        row.update(
            context_relevance=0.5 + n / 100,
            groundedness=0.6 + n / 100,
            answer_relevance=0.7 + n / 100,
            rag_json=json.dumps({"passages": 1}),
        )
    return row


def _stored(engine: Engine) -> dict[str, tuple[Any, ...]]:
    s = table("monitor_samples")
    columns = (s.c.record_id, s.c.context_relevance, s.c.groundedness, s.c.answer_relevance, s.c.rag_json)
    with engine.connect() as conn:
        return {row[0]: tuple(row[1:]) for row in conn.execute(sa.select(*columns))}


@pytest.mark.parametrize("first", ["plain", "rag"])
def test_a_batch_of_rag_and_plain_samples_keeps_each_rows_own_scores(engine: Engine, first: str) -> None:
    kinds = [first == "rag", first != "rag", first == "rag", first != "rag", True, False]
    rows = [_sample(n, rag=rag) for n, rag in enumerate(kinds)]

    assert queries.insert_samples(engine, rows) == len(rows)

    stored = _stored(engine)
    assert len(stored) == len(rows)
    for row, rag in zip(rows, kinds, strict=True):
        scores = stored[row["record_id"]]
        if rag:
            expected = (row["context_relevance"], row["groundedness"], row["answer_relevance"])
            assert scores[:3] == pytest.approx(expected)
            assert json.loads(scores[3]) == {"passages": 1}
        else:
            assert scores == (None, None, None, None)
    # what `llmgate quality report` reads: the RAG samples, and only them
    assert {r["record_id"] for r in queries.rag_samples(engine)} == {
        row["record_id"] for row, rag in zip(rows, kinds, strict=True) if rag
    }


def test_a_missing_flag_takes_its_column_default(engine: Engine) -> None:
    plain = _sample(1, rag=False)
    del plain["tool_call"]
    assert queries.insert_samples(engine, [_sample(0, rag=True), plain]) == 2
    s = table("monitor_samples")
    with engine.connect() as conn:
        flags = conn.execute(sa.select(s.c.tool_call).where(s.c.record_id == plain["record_id"])).scalar_one()
    assert flags is False


def test_health_is_read_and_replaced_in_one_transaction(engine: Engine) -> None:
    assert load_health(engine) is None
    seen: list[dict[str, Any] | None] = []

    def bump(current: dict[str, Any] | None) -> dict[str, Any]:
        seen.append(current)
        return {"passes_total": (current or {}).get("passes_total", 0) + 1}

    update_health(engine, bump, NOW)
    saved = update_health(engine, bump, NOW + timedelta(seconds=1))
    assert saved == {"passes_total": 2} == load_health(engine)
    assert seen == [None, {"passes_total": 1}]
