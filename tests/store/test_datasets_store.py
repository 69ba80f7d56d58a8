"""The datasets store on SQLite and PostgreSQL: create (a taken name refused unless replaced), list
with counts, read with items, add idempotently per request, remove by item or request id, delete
with the items; every change audited in its transaction, and the JSON fields read back as given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from llmgate.errors import InvalidRequest
from llmgate.store.datasets import (
    DatasetNotFound,
    add_items,
    check_name,
    create_dataset,
    delete_dataset,
    get_dataset,
    list_datasets,
    remove_items,
)
from llmgate.store.models import table

NOW = datetime.now(UTC).replace(microsecond=0)


def item(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "request_id": f"{n:032x}",
        "session_id": "s1" if n % 2 else None,
        "model": "gpt",
        "created_at": NOW - timedelta(minutes=n),
        "messages": [{"role": "user", "content": f"question {n} — café"}],
        "context": ["passage one", "passage two"] if n == 1 else None,
        "answer": f"answer {n}",
        "rating": "good" if n == 1 else None,
        "scores": {"thumbs": True, "groundedness": 0.25} if n == 1 else {},
        **extra,
    }


def audit(engine: Engine) -> list[tuple[str, str, str]]:
    log = table("audit_log")
    with engine.connect() as conn:
        rows = conn.execute(sa.select(log.c.actor, log.c.action, log.c.target).order_by(log.c.id))
        return [tuple(r) for r in rows]  # type: ignore[misc]


def test_create_list_get_and_the_json_fields(engine: Engine) -> None:
    query = {"since": "7d", "where": "feedback.thumbs = down", "sample": 10, "seed": 3}
    row = create_dataset(
        engine, "bad-answers", [item(1), item(2)], actor="cli:me", description="thumbs down", query=query
    )
    assert (row.name, row.items, row.query, row.description) == ("bad-answers", 2, query, "thumbs down")
    create_dataset(engine, "empty.v2", [], actor="cli:me")
    assert [(d.name, d.items) for d in list_datasets(engine)] == [("bad-answers", 2), ("empty.v2", 0)]

    found = get_dataset(engine, "bad-answers")
    assert found is not None
    first, second = found.items
    assert first.request_id == f"{1:032x}" and first.session_id == "s1"
    assert first.messages == [{"role": "user", "content": "question 1 — café"}]
    assert first.context == ["passage one", "passage two"] and first.rating == "good"
    assert first.scores == {"thumbs": True, "groundedness": 0.25}
    assert first.created_at == NOW - timedelta(minutes=1) and first.added_by == "cli:me"
    assert second.context is None and second.scores == {} and second.rating is None
    assert get_dataset(engine, "nope") is None
    assert audit(engine) == [
        ("cli:me", "dataset.create", "bad-answers"),
        ("cli:me", "dataset.create", "empty.v2"),
    ]


def test_a_taken_name_is_refused_unless_replaced(engine: Engine) -> None:
    first = create_dataset(engine, "d", [item(1), item(2)], actor="a", query={"sample": 2})
    with pytest.raises(InvalidRequest) as refused:
        create_dataset(engine, "d", [item(3)], actor="a")
    assert (refused.value.code, refused.value.param) == ("conflict", "name")
    again = create_dataset(engine, "d", [item(3)], actor="b", query={"sample": 1}, replace=True)
    assert (again.id, again.created_at, again.items, again.query) == (
        first.id,
        first.created_at,
        1,
        {"sample": 1},
    )
    found = get_dataset(engine, "d")
    assert found is not None and [i.request_id for i in found.items] == [f"{3:032x}"]
    assert [a[1] for a in audit(engine)] == ["dataset.create", "dataset.replace"]


def test_adding_a_request_twice_leaves_one_item(engine: Engine) -> None:
    with pytest.raises(DatasetNotFound):
        add_items(engine, "new", [item(1)], actor="a")
    made = add_items(engine, "new", [item(1), item(1)], actor="api:master", create=True)
    assert (made.created, made.added, made.present, made.dataset.items) == (True, 1, 1, 1)
    again = add_items(engine, "new", [item(1), item(2)], actor="api:master", create=True)
    assert (again.created, again.added, again.present, again.dataset.items) == (False, 1, 1, 2)
    assert add_items(engine, "new", [item(2)], actor="a").added == 0
    found = get_dataset(engine, "new")
    assert found is not None and [i.request_id for i in found.items] == [f"{1:032x}", f"{2:032x}"]
    assert [a[1] for a in audit(engine)] == ["dataset.create", "dataset.add", "dataset.add"]
    # the unique index holds even for a writer that skips the check
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(
            sa.insert(table("dataset_items")).values(
                dataset_id=made.dataset.id,
                request_id=f"{1:032x}",
                model="gpt",
                created_at=NOW,
                messages_json="[]",
                added_at=NOW,
                added_by="x",
            )
        )


def test_remove_and_delete(engine: Engine) -> None:
    create_dataset(engine, "d", [item(1), item(2), item(3)], actor="a")
    create_dataset(engine, "other", [item(1)], actor="a")
    found = get_dataset(engine, "d")
    assert found is not None
    assert remove_items(engine, "d", actor="a", item_ids=[found.items[0].id]) == 1
    assert remove_items(engine, "d", actor="a", request_ids=[f"{3:032x}", "f" * 32]) == 1
    assert remove_items(engine, "d", actor="a", item_ids=[999_999]) == 0
    left = get_dataset(engine, "d")
    assert left is not None and [i.request_id for i in left.items] == [f"{2:032x}"]
    with pytest.raises(DatasetNotFound):
        remove_items(engine, "missing", actor="a", item_ids=[1])
    assert delete_dataset(engine, "d", actor="b") == 1
    assert get_dataset(engine, "d") is None
    with pytest.raises(DatasetNotFound):
        delete_dataset(engine, "d", actor="b")
    kept = get_dataset(engine, "other")  # another dataset's copy of request 1 stays
    assert kept is not None and [i.request_id for i in kept.items] == [f"{1:032x}"]
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM dataset_items")).scalar() == 1
    assert [a[1] for a in audit(engine)][-3:] == ["dataset.remove", "dataset.remove", "dataset.delete"]


@pytest.mark.parametrize("bad", ["", "-x", "a b", "x/y", "é", "x" * 129, "a\x00"])
def test_names_fit_urls_and_file_names(bad: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        check_name(bad)
    assert refused.value.param == "name"
    assert check_name("Bad_answers-2026.v1") == "Bad_answers-2026.v1"
