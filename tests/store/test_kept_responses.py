"""A requests row may carry a kept Responses API answer: the record writer inserts both in one
transaction, and a batch replayed from a spill file (ISO dates, the same ids) stores each once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from test_store_records import make_row

from llmgate.store import STORED_RESPONSE
from llmgate.store.records import get_record, insert_records
from llmgate.store.responses import load_response


def _kept(response_id: str) -> dict[str, Any]:
    return {
        "id": response_id,
        "owner": "key_0123456789ab",
        "deployment": "mock-1",
        "created_at": datetime(2026, 12, 5, 11, 0, tzinfo=UTC),
        "previous_response_id": None,
        "input_json": orjson.dumps([{"role": "user", "content": "hi"}]).decode(),
        "response_json": orjson.dumps({"id": response_id, "object": "response"}).decode(),
    }


def test_a_kept_response_is_stored_with_its_record(engine: Engine) -> None:
    row = make_row(endpoint="responses", **{STORED_RESPONSE: _kept("resp_kept_1")})
    assert insert_records(engine, [row, make_row()]) == 2
    stored = load_response(engine, "resp_kept_1")
    assert stored is not None and stored["owner"] == "key_0123456789ab"
    assert stored["created_at"] == datetime(2026, 12, 5, 11, 0, tzinfo=UTC)
    record = get_record(engine, row["id"])
    assert record is not None and STORED_RESPONSE not in record


def test_a_replayed_batch_stores_each_response_once(engine: Engine) -> None:
    kept = _kept("resp_kept_2")
    first = make_row(endpoint="responses", **{STORED_RESPONSE: kept})
    insert_records(engine, [first])
    replayed = orjson.loads(orjson.dumps(first, default=str))  # as a spill file has it (amounts as text)
    replayed[STORED_RESPONSE]["created_at"] = kept["created_at"].isoformat()
    replayed["created_at"] = first["created_at"]
    replayed["cost_usd"], replayed["saved_usd"] = first["cost_usd"], first["saved_usd"]
    assert insert_records(engine, [replayed]) == 0
    with engine.connect() as conn:
        count = conn.execute(
            sa.text("SELECT count(*) FROM stored_responses WHERE id = 'resp_kept_2'")
        ).scalar()
    assert count == 1
