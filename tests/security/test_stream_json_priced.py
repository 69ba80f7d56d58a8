"""``stream: true`` against an upstream that answers one plain JSON body instead of SSE: the client
gets the stream it asked for (the answer told as events), and the call is recorded with the JSON's
usage and priced from it (it was stored with no tokens and $0).

Through real processes: ``llmgate serve`` (its writer process, a SQLite store) in front of a
loopback aiohttp upstream that ignores ``stream`` and answers ``application/json``, with the
official ``openai`` SDK as the client.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import openai
import orjson
import pytest
from aiohttp import web

from llmgate.store.models import MONEY_SCALE
from support.configs import MASTER_KEY
from support.served import ServedGateway
from support.upstream import serve_chat

INPUT_PRICE = Decimal("0.000001")
OUTPUT_PRICE = Decimal("0.000004")
USAGE = {"prompt_tokens": 1234, "completion_tokens": 567, "total_tokens": 1801}
ANSWER = "A whole answer in one JSON body."


async def _json_answer(request: web.Request) -> web.Response:
    body = await request.json()
    assert body.get("stream") is True  # the gateway asked for a stream; this upstream ignores it
    payload = {
        "id": "chatcmpl-plain-json",
        "object": "chat.completion",
        "created": 0,
        "model": "plain-json-model",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": ANSWER}, "finish_reason": "stop"}
        ],
        "usage": USAGE,
    }
    return web.Response(body=orjson.dumps(payload), content_type="application/json")


@pytest.fixture
def json_upstream() -> Iterator[str]:
    """An OpenAI-compatible upstream on loopback that never streams; yields its base URL."""
    with serve_chat(_json_answer) as base:
        yield base


@pytest.fixture
def served(json_upstream: str, tmp_path: Path) -> Iterator[ServedGateway]:
    config = {
        "model_list": [
            {
                "model_name": "plain-json",
                "litellm_params": {
                    "model": "openai/plain-json-model",
                    "api_base": json_upstream,
                    "api_key": "sk-json-upstream-0000",
                    "input_cost_per_token": str(INPUT_PRICE),
                    "output_cost_per_token": str(OUTPUT_PRICE),
                },
            }
        ],
        "general_settings": {"master_key": MASTER_KEY},
    }
    gateway = ServedGateway(config, tmp_path).start()
    yield gateway
    gateway.stop()


def test_a_stream_answered_with_plain_json_is_priced_from_its_usage(served: ServedGateway) -> None:
    """The SDK's stream reads the answer (one JSON body is no SSE event at all: it read nothing),
    and the record keeps the upstream's exact usage, riding on the last chunk."""
    client = openai.OpenAI(base_url=served.url + "/v1", api_key=MASTER_KEY, max_retries=0, timeout=20)
    with client:
        raw = client.chat.completions.with_raw_response.create(
            model="plain-json", messages=[{"role": "user", "content": "Say something."}], stream=True
        )
        request_id = raw.headers["x-llmgate-request-id"]
        assert raw.headers["content-type"].startswith("text/event-stream")
        chunks = list(raw.parse())
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == ANSWER
    assert all(c.choices for c in chunks)  # no usage chunk was asked for: none with empty choices
    assert chunks[-1].choices[0].finish_reason == "stop" and chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == USAGE["total_tokens"]

    (row,) = served.rows([request_id])[request_id]
    assert row["stream"] and row["status_code"] == 200 and row["status"] == "success"
    assert (row["prompt_tokens"], row["completion_tokens"], row["total_tokens"]) == (1234, 567, 1801)
    assert not row["tokens_estimated"]
    expected = USAGE["prompt_tokens"] * INPUT_PRICE + USAGE["completion_tokens"] * OUTPUT_PRICE
    assert Decimal(row["cost_usd"]).scaleb(-MONEY_SCALE) == expected  # SQLite: integer 1e-10 USD
    assert row["response_text"] == ANSWER
    assert row["finish_reason"] == "stop"


def test_a_usage_chunk_asked_for_comes_as_its_own_chunk(served: ServedGateway) -> None:
    client = openai.OpenAI(base_url=served.url + "/v1", api_key=MASTER_KEY, max_retries=0, timeout=20)
    with client:
        chunks = list(
            client.chat.completions.create(
                model="plain-json",
                messages=[{"role": "user", "content": "Say something."}],
                stream=True,
                stream_options={"include_usage": True},
            )
        )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == ANSWER
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.prompt_tokens == USAGE["prompt_tokens"]
    assert all(c.usage is None for c in chunks[:-1])
