"""A kept Responses API answer is stored by the record writer with its request's row (never by a
store write in the gateway process), and a restarted gateway (or another replica) continues the
conversation and reads it back from the store."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import openai

from support.served import ServedGateway

KEY = "sk-llmgate-kept-responses"
CONFIG: dict[str, Any] = {
    "model_list": [{"model_name": "echo", "litellm_params": {"model": "mock/echo"}}],
    "general_settings": {"master_key": KEY},
}


def _stored(database: Path, response_id: str, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as db:
                db.row_factory = sqlite3.Row
                row = db.execute("SELECT * FROM stored_responses WHERE id = ?", [response_id]).fetchone()
                if row is not None:
                    return dict(row)
        except sqlite3.OperationalError:  # not migrated yet, or busy
            pass
        assert time.monotonic() < deadline, f"{response_id} never reached stored_responses"
        time.sleep(0.05)


def test_a_kept_response_survives_a_restart(tmp_path: Path) -> None:
    gateway = ServedGateway(CONFIG, tmp_path).start()
    try:
        client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=KEY, max_retries=0)
        first = client.responses.create(model="echo", input="the first words")
        row = _stored(gateway.database, first.id)
        assert row["owner"] == "master" and "the first words" in row["input_json"]
    finally:
        gateway.stop()
    restarted = ServedGateway(CONFIG, tmp_path).start()  # same store, empty memory
    try:
        client = openai.OpenAI(base_url=restarted.url + "/v1", api_key=KEY, max_retries=0)
        assert client.responses.retrieve(first.id).output_text == first.output_text
        second = client.responses.create(model="echo", input="and then", previous_response_id=first.id)
        assert second.status == "completed"
        items = [item.model_dump() for item in client.responses.input_items.list(second.id).data]
        assert any("and then" in str(item) for item in items)
    finally:
        restarted.stop()
