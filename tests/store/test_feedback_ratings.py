"""The users' rating in SQL (``store/feedback_ratings.py``) on SQLite and PostgreSQL: value by value
the same as the Python rule (``reports/feedback_rating.py`` ``rating_of``), only users' sources
count, and a request's ratings combine as ``combined_rating`` says (any bad: bad)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from llmgate.reports.feedback_rating import combined_rating, is_user_source, rating_of
from llmgate.store.feedback_ratings import (
    rating_label,
    request_rank,
    request_ratings,
    score_rank,
    user_source,
)
from llmgate.store.models import table
from llmgate.store.records import insert_records
from llmgate.store.rollup_reads import spend_sums
from llmgate.store.scores import put_request_scores, put_score
from llmgate.store.traffic import traffic_by_feedback

NOW = datetime(2026, 5, 1, tzinfo=UTC)
LABELS = ["up", " Down ", "GOOD", "bad\n", "👍", "👎", "thumbs-up", "Thumbs_Down", "meh", "", "like it", "No"]
NUMBERS = [0.0, 0.49, 0.5, 1.0, 1.5, 5.0, -1.0, -0.2, 2.0, 0.999]
SOURCES = ["key:abc", "master", "anonymous", "monitor", "eval:run1", "keys", "key_x", "%master"]


def insert(engine: Engine, rows: list[dict[str, object]]) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.insert(table("scores")),
            [
                {"target_kind": "request", "comment": None, "created_at": NOW, "updated_at": NOW}
                | {"value_num": None, "value_label": None}
                | row
                for row in rows
            ],
        )


def test_sql_rates_every_value_as_the_python_rule(engine: Engine) -> None:
    rows: list[dict[str, object]] = []
    for index, label in enumerate(LABELS):
        rows.append(
            {"target_id": f"l{index}", "name": "n", "kind": "label", "value_label": label, "source": "m"}
        )
    for index, number in enumerate(NUMBERS):
        rows.append(
            {"target_id": f"n{index}", "name": "n", "kind": "number", "value_num": number, "source": "m"}
        )
    for index, flag in enumerate((0.0, 1.0)):
        rows.append({"target_id": f"b{index}", "name": "n", "kind": "bool", "value_num": flag, "source": "m"})
    for index, source in enumerate(SOURCES):
        rows.append(
            {"target_id": f"s{index}", "name": "n", "kind": "bool", "value_num": 1.0, "source": source}
        )
    insert(engine, rows)
    scores = table("scores")
    names = {0: None, 1: "good", 2: "bad"}
    query = sa.select(
        scores,
        score_rank(engine.dialect.name, scores).label("rank"),
        user_source(scores.c.source).label("user"),
    )
    with engine.connect() as conn:
        found = conn.execute(query).mappings().all()
    assert len(found) == len(rows)
    for row in found:
        expected = rating_of(row["kind"], row["value_num"], row["value_label"])
        assert names[row["rank"]] == expected, dict(row)
        assert bool(row["user"]) is is_user_source(row["source"]), row["source"]
    # the grid covers every outcome
    assert {names[row["rank"]] for row in found} == {None, "good", "bad"}


def test_a_request_combines_only_its_users_ratings(engine: Engine) -> None:
    put_score(engine, target_kind="request", target_id="twice", name="thumbs", value=True, source="key:k1")
    put_score(engine, target_kind="request", target_id="twice", name="thumbs", value=False, source="key:k2")
    put_score(engine, target_kind="request", target_id="liked", name="thumbs", value="up", source="master")
    put_score(engine, target_kind="request", target_id="liked", name="stars", value=3.0, source="key:k1")
    put_score(
        engine, target_kind="request", target_id="scored", name="groundedness", value=0.1, source="monitor"
    )
    put_request_scores(engine, "eval:r1", [{"target_id": "scored", "name": "contains", "value": 0.0}])
    put_score(engine, target_kind="session", target_id="quiet", name="thumbs", value=False, source="key:k1")
    assert combined_rating([rating_of("bool", 1.0, None), rating_of("bool", 0.0, None)]) == "bad"
    ratings = request_ratings(engine, ["twice", "liked", "scored", "quiet", "none", "twice"])
    assert ratings == {
        "twice": "bad",
        "liked": "good",
        "scored": "unrated",
        "quiet": "unrated",
        "none": "unrated",
    }
    # the correlated form agrees with the grouped one
    ids = sa.union_all(*(sa.select(sa.literal(i).label("id")) for i in ratings)).subquery("ids")
    query = sa.select(ids.c.id, rating_label(request_rank(engine.dialect.name, ids.c.id)))
    with engine.connect() as conn:
        assert {str(i): r for i, r in conn.execute(query)} == ratings


def test_many_requests_are_read_in_chunks(engine: Engine) -> None:
    ids = [f"r{i:04d}" for i in range(1203)]
    put_request_scores(engine, "eval:x", [{"target_id": i, "name": "n", "value": 1.0} for i in ids[:3]])
    insert(
        engine,
        [
            {"target_id": i, "name": "thumbs", "kind": "bool", "value_num": 0.0, "source": "key:k"}
            for i in ids[1200:]
        ],
    )
    ratings = request_ratings(engine, ids)
    assert len(ratings) == 1203
    assert [i for i, r in ratings.items() if r != "unrated"] == ids[1200:]
    assert {ratings[i] for i in ids[1200:]} == {"bad"}


def test_spend_and_traffic_group_by_rating_on_both_stores(engine: Engine) -> None:
    costs = {"up": "1.0000000001", "down": "2.5", "none": "0.1234567891", "evaluated": "3"}
    insert_records(
        engine,
        [
            {
                "id": request_id,
                "created_at": NOW + timedelta(minutes=index),
                "endpoint": "chat/completions",
                "model": "gpt",
                "status": "success",
                "status_code": 200,
                "latency_ms": 10.0 * (index + 1),
                "cost_usd": Decimal(cost),
            }
            for index, (request_id, cost) in enumerate(costs.items())
        ],
    )
    put_score(engine, target_kind="request", target_id="up", name="thumbs", value=True, source="key:k1")
    put_score(engine, target_kind="request", target_id="down", name="thumbs", value=True, source="key:k1")
    put_score(engine, target_kind="request", target_id="down", name="thumbs", value=False, source="master")
    put_request_scores(engine, "eval:r", [{"target_id": "evaluated", "name": "contains", "value": 0.0}])
    since, until = NOW - timedelta(hours=1), NOW + timedelta(hours=1)
    sums = {
        row.groups[0]: (row.requests, row.cost_usd) for row in spend_sums(engine, ["feedback"], since, until)
    }
    assert sums == {
        "good": (1, Decimal("1.0000000001")),
        "bad": (1, Decimal("2.5")),
        "unrated": (2, Decimal("3.1234567891")),
    }
    dated = spend_sums(engine, ["date", "feedback"], since, until)
    assert sum((row.cost_usd for row in dated), Decimal(0)) == Decimal("6.6234567892")
    split = traffic_by_feedback(engine, since, until)
    assert {r: (b.requests, b.cost_usd, b.p50_ms) for r, b in split.items()} == {
        "good": (1, Decimal("1.0000000001"), 10.0),
        "bad": (1, Decimal("2.5"), 20.0),
        "unrated": (2, Decimal("3.1234567891"), 30.0),
    }
