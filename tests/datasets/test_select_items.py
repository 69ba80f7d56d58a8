"""Selecting recorded calls for a dataset from a real store (SQLite, and PostgreSQL when
LLMGATE_TEST_DATABASE_URL is set): ``--where`` selects exactly the expected calls from known
records and scores; sampling, near-duplicates and PII are counted; hand-picked ids and sessions."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from llmgate.datasets.filter import FilterError
from llmgate.datasets.select import NotRecorded, items_for_requests, items_for_session, select_items
from llmgate.errors import InvalidRequest
from llmgate.store.dataset_sources import window_batches
from llmgate.store.db import create_engine_for
from llmgate.store.migrate import upgrade
from llmgate.store.models import table
from llmgate.store.records import insert_records
from llmgate.store.scores import put_score
from support.migrated import copy_migrated
from support.postgres import postgres_schema

DAY1 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
DAY2 = DAY1 + timedelta(days=1)
SINCE, UNTIL = DAY1 - timedelta(hours=1), DAY2 + timedelta(days=1)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        copy_migrated(f"sqlite:///{tmp_path / 'data' / 'store.db'}")  # migrated once per session
        made = create_engine_for(f"sqlite:///{tmp_path / 'data' / 'store.db'}")
        upgrade(made)  # a no-op at head
        yield made
        made.dispose()
        return
    base = os.environ.get("LLMGATE_TEST_DATABASE_URL")
    if not base:
        pytest.skip("LLMGATE_TEST_DATABASE_URL is not set")
    with postgres_schema(base) as url:
        copy_migrated(url)
        made = create_engine_for(url)
        upgrade(made)
        yield made
        made.dispose()


def call(n: int, at: datetime, prompt: str, **extra: Any) -> dict[str, Any]:
    endpoint = extra.pop("endpoint", "chat/completions")
    request = (
        {"input": [prompt]}
        if endpoint == "embeddings"
        else {"messages": [{"role": "user", "content": prompt}]}
    )
    return {
        "id": f"r{n:02d}",
        "created_at": at + timedelta(minutes=n),
        "endpoint": endpoint,
        "model": extra.pop("model", "gpt"),
        "status": "success",
        "status_code": 200,
        "latency_ms": 100.0 * n,
        "request_json": json.dumps(request),
        "response_text": f"answer {n}",
        **extra,
    }


def sample(engine: Engine, n: int, **scores: float) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.insert(table("monitor_samples")).values(
                record_id=f"r{n:02d}", created_at=DAY1, sampled_at=DAY1, model="gpt",
                route="chat/completions", embedder="e", dim=3, **scores,
            )
        )  # fmt: skip


@pytest.fixture
def store(engine: Engine) -> Engine:
    with engine.begin() as conn:
        conn.execute(
            sa.insert(table("api_keys")).values(
                id="key_bot", key_hash=uuid.uuid4().hex * 2, key_prefix="sk-lg-x", alias="support-bot",
                created_at=DAY1, updated_at=DAY1,
            )
        )  # fmt: skip
    insert_records(
        engine,
        [
            call(1, DAY1, "Where is my parcel?", key_id="key_bot"),
            call(2, DAY1, "Cancel my plan"),
            call(3, DAY1, "What is the refund policy?", tags_json=json.dumps({"env": "test"})),
            call(4, DAY1, "Is it waterproof?", model="claude", tags_json=json.dumps({"env": "prod"})),
            call(5, DAY2, "Translate this", model="claude", status="error", status_code=500,
                 error_type="upstream_error", response_text=None),
            call(6, DAY2, "Plan my trip", model="claude", session_id="s1"),
            call(7, DAY2, "embed me", endpoint="embeddings"),
            call(8, DAY2, "Can I pay later?", metadata_json=json.dumps({"customer": {"tier": "gold"}}),
                 response_text="Sorry, I cannot help with that."),
            call(9, DAY1 - timedelta(days=3), "Too old"),
            call(10, DAY2, "I'm jane@example.com, call +44 20 7946 0958 about my refund"),
        ],
    )  # fmt: skip
    put_score(
        engine, target_kind="request", target_id="r01", name="thumbs", value=False, source="key:key_bot"
    )
    put_score(engine, target_kind="request", target_id="r02", name="thumbs", value="up", source="master")
    put_score(engine, target_kind="request", target_id="r04", name="thumbs", value=False, source="key:k1")
    put_score(engine, target_kind="request", target_id="r04", name="thumbs", value=True, source="key:k2")
    put_score(engine, target_kind="session", target_id="s1", name="thumbs", value=False, source="master")
    put_score(engine, target_kind="request", target_id="r07", name="thumbs", value=False, source="master")
    put_score(engine, target_kind="request", target_id="r08", name="exact", value=0.0, source="eval:run1")
    put_score(engine, target_kind="request", target_id="r09", name="thumbs", value=False, source="master")
    put_score(
        engine, target_kind="request", target_id="r10", name="thumbs", value="thumbs_down", source="anonymous"
    )
    sample(engine, 1, groundedness=0.9, answer_relevance=0.8)
    sample(engine, 2, groundedness=0.3)
    sample(engine, 3, groundedness=0.4, context_relevance=0.2)
    return engine


def ids(engine: Engine, where: str | None, **options: Any) -> list[str]:
    selection = select_items(engine, since=SINCE, until=UNTIL, where=where, keep_pii=True, **options)
    return [str(item.request_id) for item in selection.items]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("feedback.thumbs = down or groundedness < 0.5", "01 02 03 04 10"),
        ("not feedback.thumbs = down", "02"),  # r04 has a down among its two; no feedback: unknown
        ("feedback.thumbs = up", "02 04"),
        ("rating = bad", "01 04 10"),
        ("rating = good", "02"),
        ("rating missing and status = success", "03 06 08"),
        ("session_feedback.thumbs = down", "06"),
        ("status = error", "05"),
        ("status_code >= 500 and model = claude", "05"),
        ("tag.env = prod or tag.env = test", "03 04"),
        ("not tag.env = test", "04"),
        ("metadata.customer.tier = gold and score.exact < 0.5", "08"),
        ('response contains "SORRY"', "08"),
        ("prompt contains refund", "03 10"),
        ("model in (claude) and not groundedness exists", "04 05 06"),
        ("groundedness < 0.5 and context_relevance missing", "02"),
        ("answer_relevance >= 0.5 or score.exact = 0", "01 08"),
        ("key = support-bot", "01"),
        ("key = key_bot and feedback exists", "01"),
        ("latency_ms > 500 and not (model = claude or feedback.thumbs exists)", "08"),
        (None, "01 02 03 04 05 06 08 10"),
    ],
)
def test_where_selects_exactly(store: Engine, where: str | None, expected: str) -> None:
    assert ids(store, where) == [f"r{n}" for n in expected.split()]


def test_counts_model_and_window(store: Engine) -> None:
    selection = select_items(store, since=SINCE, until=UNTIL, where="rating = bad", keep_pii=False)
    assert (selection.considered, selection.matched, len(selection.items)) == (8, 3, 3)
    assert selection.scrubbed == 2  # r10's email and phone
    r10 = selection.items[-1]
    assert r10.messages[0]["content"] == "I'm [EMAIL], call [PHONE] about my refund"
    assert (r10.rating, r10.scores) == ("bad", {"thumbs": "thumbs_down"})
    only_claude = select_items(store, since=SINCE, until=UNTIL, model="claude", keep_pii=True)
    assert only_claude.considered == 3 and [i.request_id for i in only_claude.items] == ["r04", "r05", "r06"]
    day2 = select_items(store, since=DAY2 - timedelta(hours=1), until=None, keep_pii=True)
    assert [i.request_id for i in day2.items] == ["r05", "r06", "r08", "r10"]


def test_stratified_sample_by_model_and_day(store: Engine) -> None:
    selection = select_items(store, since=SINCE, until=UNTIL, sample=4, keep_pii=True, seed=5)
    strata = {(item.model, item.created_at.date()) for item in selection.items}
    # four strata: gpt day 1 (3 calls), gpt day 2 (2), claude day 1 (1), claude day 2 (2)
    assert len(selection.items) == 4 and len(strata) == 4
    assert selection.matched == 8 and selection.sampled_out == 4
    again = select_items(store, since=SINCE, until=UNTIL, sample=4, keep_pii=True, seed=5)
    assert [i.request_id for i in again.items] == [i.request_id for i in selection.items]
    # a zone moves the day: at UTC-10 the 09:00 UTC calls of day 1 fall on the day before
    zoned = select_items(store, since=SINCE, until=UNTIL, sample=4, keep_pii=True, zone="Pacific/Honolulu")
    assert len(zoned.items) == 4
    with pytest.raises(InvalidRequest, match="sample"):
        select_items(store, since=SINCE, until=UNTIL, sample=0, keep_pii=True)


class SameForRefunds:
    """A fake embedder: every prompt about a refund points one way, every other its own way."""

    model_name, dimension = "fake", 64

    def __init__(self) -> None:
        self.axes: dict[str, int] = {}

    def encode(self, texts: Sequence[str]) -> Any:
        rows = np.zeros((len(texts), 64), dtype=np.float32)
        for i, text in enumerate(texts):
            axis = 0 if "refund" in text.lower() else self.axes.setdefault(text, 1 + len(self.axes))
            rows[i, axis] = 1.0
        return rows

    def load(self) -> None: ...
    def clear_cache(self) -> None: ...
    def close(self) -> None: ...


def test_dedupe_counts_and_tops_the_sample_up(store: Engine) -> None:
    full = select_items(
        store, since=SINCE, until=UNTIL, dedupe=True, keep_pii=True, embedder=SameForRefunds()
    )
    # r10 asks about a refund, as r03 did; r10 was rated (thumbs down), r03 not: r10 is kept
    assert [i.request_id for i in full.items] == ["r01", "r02", "r04", "r05", "r06", "r08", "r10"]
    assert full.duplicates == 1
    where = "prompt contains refund or model = claude"  # r03, r04, r05, r06, r10
    topped = select_items(
        store,
        since=SINCE,
        until=UNTIL,
        where=where,
        sample=4,
        dedupe=True,
        keep_pii=True,
        embedder=SameForRefunds(),
    )
    assert len(topped.items) == 4 and topped.duplicates == 1 and topped.sampled_out == 0
    assert topped.matched == len(topped.items) + topped.sampled_out + topped.duplicates + topped.unusable


def test_a_bad_expression_fails_before_the_store_is_read(tmp_path: Path) -> None:
    unreadable = create_engine_for(f"sqlite:///{tmp_path / 'missing' / 'store.db'}")
    with pytest.raises(FilterError, match="unknown field 'thumbs'"):
        select_items(unreadable, since=None, until=None, where="thumbs = down", keep_pii=False)


def test_items_by_hand(store: Engine) -> None:
    items = items_for_requests(store, ["r08", "r01", "r08"], keep_pii=True)
    assert [i.request_id for i in items] == ["r08", "r01"]
    assert items[0].scores == {"exact": 0.0} and items[1].rating == "bad"
    with pytest.raises(NotRecorded, match="'nope'") as caught:
        items_for_requests(store, ["r01", "nope"], keep_pii=True)
    assert caught.value.status_code == 404 and caught.value.param == "request_id"
    with pytest.raises(InvalidRequest, match=r"r07.*no chat prompt"):
        items_for_requests(store, ["r07"], keep_pii=True)
    session = items_for_session(store, "s1", keep_pii=True)
    assert [i.request_id for i in session] == ["r06"] and session[0].session_id == "s1"
    assert session[0].rating is None  # the session's thumbs do not rate its calls
    with pytest.raises(NotRecorded, match="no recorded calls in session"):
        items_for_session(store, "s-none", keep_pii=True)


def test_window_batches_walk_ties_in_id_order(engine: Engine) -> None:
    insert_records(engine, [call(n, DAY1, f"q{n}", created_at=DAY1) for n in range(1, 8)])
    batches = list(window_batches(engine, since=None, until=None, batch_size=3, columns=("status",)))
    assert [[row["id"] for row in batch] for batch in batches] == [
        ["r01", "r02", "r03"],
        ["r04", "r05", "r06"],
        ["r07"],
    ]
    assert set(batches[0][0]) == {"id", "created_at", "model", "endpoint", "status"}
