"""``put_request_scores`` on SQLite and PostgreSQL: one source's numeric scores on many requests at
once; storing the same rows again changes nothing, a changed value or comment updates its row, a
name no longer given on a request is deleted; other sources' scores are never touched."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from llmgate.store.models import table
from llmgate.store.scores import put_request_scores, put_score, request_scores

NOW = datetime(2026, 5, 1, tzinfo=UTC)


def stored(engine: Engine) -> dict[tuple[str, str, str], tuple[float, str | None, datetime]]:
    scores = table("scores")
    with engine.connect() as conn:
        rows = conn.execute(sa.select(scores)).mappings().all()
    return {
        (r["target_id"], r["name"], r["source"]): (r["value_num"], r["comment"], r["updated_at"])
        for r in rows
    }


def test_storing_again_is_idempotent(engine: Engine) -> None:
    put_score(engine, target_kind="request", target_id="a", name="contains", value=False, source="key:k1")
    rows = [
        {"target_id": "a", "name": "contains", "value": 1.0, "comment": None},
        {"target_id": "a", "name": "grounded", "value": 0.25, "comment": "2 of 8 claims unsupported"},
        {"target_id": "b", "name": "contains", "value": 0.0, "comment": "missing 'x'"},
    ]
    assert put_request_scores(engine, "eval:r1", rows, now=NOW) == 3
    first = stored(engine)
    assert first[("a", "grounded", "eval:r1")] == (0.25, "2 of 8 claims unsupported", NOW)
    assert put_request_scores(engine, "eval:r1", rows, now=NOW + timedelta(hours=1)) == 0
    assert stored(engine) == first
    later = NOW + timedelta(hours=2)
    changed = [{**rows[0], "value": 0.5}, rows[2]]  # a's grounded is gone, a's contains changed
    assert put_request_scores(engine, "eval:r1", changed, now=later) == 2
    after = stored(engine)
    assert after[("a", "contains", "eval:r1")] == (0.5, None, later)
    assert ("a", "grounded", "eval:r1") not in after
    assert after[("a", "contains", "key:k1")] == first[("a", "contains", "key:k1")]
    assert put_request_scores(engine, "eval:r2", rows[:1], now=later) == 1  # another run: its own rows
    sources = sorted((s["name"], s["source"]) for s in request_scores(engine, "a"))
    assert sources == [("contains", "eval:r1"), ("contains", "eval:r2"), ("contains", "key:k1")]
    assert put_request_scores(engine, "eval:r3", []) == 0


def test_a_bad_row_is_refused(engine: Engine) -> None:
    with pytest.raises(ValueError, match="not a storable"):
        put_request_scores(engine, "eval:r1", [{"target_id": "a", "name": "", "value": 1.0}])
    with pytest.raises(ValueError, match="not a storable"):
        put_request_scores(engine, "eval:r1", [{"target_id": "a", "name": "n", "value": float("nan")}])
