"""The scores store on SQLite and PostgreSQL: a repeated score updates its one row (or changes
nothing when equal), values keep their kind, owners are read from the requests, and a request's
scores come with its session's and the monitor's, each with its source."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from llmgate.errors import InvalidRequest
from llmgate.store.models import table
from llmgate.store.records import insert_records
from llmgate.store.scores import (
    feedback_rows,
    put_score,
    request_owner,
    request_scores,
    score_value,
    session_keys,
)

NOW = datetime.now(UTC).replace(microsecond=0)


def record(record_id: str, **extra: object) -> dict[str, object]:
    return {
        "id": record_id,
        "created_at": NOW,
        "endpoint": "chat/completions",
        "model": "gpt",
        "status": "success",
        "status_code": 200,
        "latency_ms": 1.0,
        **extra,
    }


def count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table("scores"))).scalar_one())


def test_repeat_updates_the_one_row(engine: Engine) -> None:
    first = put_score(
        engine, target_kind="request", target_id="r1", name="thumbs", value=True, source="key:k1", now=NOW
    )
    assert (first["kind"], first["value"], first["source"]) == ("bool", True, "key:k1")
    same = put_score(
        engine,
        target_kind="request",
        target_id="r1",
        name="thumbs",
        value=True,
        source="key:k1",
        now=NOW + timedelta(minutes=1),
    )
    assert same["updated_at"] == NOW  # equal: nothing changed
    changed = put_score(
        engine,
        target_kind="request",
        target_id="r1",
        name="thumbs",
        value=False,
        source="key:k1",
        comment="wrong city",
        now=NOW + timedelta(minutes=2),
    )
    assert (changed["id"], changed["value"], changed["comment"]) == (first["id"], False, "wrong city")
    assert changed["created_at"] == NOW and changed["updated_at"] == NOW + timedelta(minutes=2)
    assert count(engine) == 1
    # another source, name or target is another row
    put_score(engine, target_kind="request", target_id="r1", name="thumbs", value=1, source="master")
    put_score(engine, target_kind="request", target_id="r1", name="stars", value=4.5, source="key:k1")
    put_score(engine, target_kind="session", target_id="r1", name="thumbs", value="great", source="key:k1")
    assert count(engine) == 4


def test_unique_index_holds_without_the_check(engine: Engine) -> None:
    put_score(engine, target_kind="request", target_id="r1", name="n", value=1, source="master")
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(
            sa.insert(table("scores")).values(
                target_kind="request",
                target_id="r1",
                name="n",
                kind="number",
                value_num=2.0,
                source="master",
                created_at=NOW,
                updated_at=NOW,
            )
        )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, ("bool", 1.0, None)),
        (0, ("number", 0.0, None)),
        (-2.5, ("number", -2.5, None)),
        ("down", ("label", None, "down")),
    ],
)
def test_score_value_kinds(value: object, expected: tuple[object, ...]) -> None:
    assert score_value(value) == expected


@pytest.mark.parametrize("value", [None, float("nan"), float("inf"), "", "x" * 129, [1], {"a": 1}])
def test_score_value_refuses(value: object) -> None:
    with pytest.raises(InvalidRequest) as caught:
        score_value(value)
    assert caught.value.param == "value"


def test_bounds(engine: Engine) -> None:
    with pytest.raises(InvalidRequest) as caught:
        put_score(engine, target_kind="request", target_id="r", name="n" * 65, value=1, source="master")
    assert caught.value.param == "name"
    with pytest.raises(InvalidRequest) as caught:
        put_score(
            engine,
            target_kind="request",
            target_id="r",
            name="n",
            value=1,
            source="master",
            comment="c" * 2001,
        )
    assert caught.value.param == "comment"
    assert count(engine) == 0


def test_owners_and_every_score_of_a_request(engine: Engine) -> None:
    insert_records(
        engine,
        [
            record("a" * 32, key_id="k1", session_id="s1"),
            record("b" * 32, key_id="k2", session_id="s1"),
            record("c" * 32),
        ],
    )
    assert request_owner(engine, "a" * 32) == (True, "k1")
    assert request_owner(engine, "c" * 32) == (True, None)
    assert request_owner(engine, "z" * 32) == (False, None)
    assert session_keys(engine, "s1") == {"k1", "k2"}
    assert session_keys(engine, "nope") == set()

    with engine.begin() as conn:
        conn.execute(
            sa.insert(table("monitor_samples")).values(
                record_id="a" * 32,
                created_at=NOW,
                sampled_at=NOW,
                model="gpt",
                route="chat/completions",
                embedder="e",
                dim=3,
                groundedness=0.25,
                answer_relevance=0.75,
            )
        )
    put_score(engine, target_kind="request", target_id="a" * 32, name="thumbs", value=False, source="key:k1")
    put_score(engine, target_kind="session", target_id="s1", name="task_done", value="yes", source="master")
    put_score(engine, target_kind="request", target_id="b" * 32, name="thumbs", value=True, source="key:k2")
    found = {(s["target_kind"], s["name"], s["source"]): s["value"] for s in request_scores(engine, "a" * 32)}
    assert found == {
        ("request", "thumbs", "key:k1"): False,
        ("session", "task_done", "master"): "yes",
        ("request", "groundedness", "monitor"): 0.25,
        ("request", "answer_relevance", "monitor"): 0.75,
    }
    assert [s["name"] for s in request_scores(engine, "c" * 32)] == []

    rows = feedback_rows(engine, NOW - timedelta(hours=1), NOW + timedelta(hours=1))
    assert sorted((r["request_id"], r["value_num"]) for r in rows) == [("a" * 32, 0.0), ("b" * 32, 1.0)]
    assert feedback_rows(engine, NOW + timedelta(hours=1), NOW + timedelta(hours=2)) == []
