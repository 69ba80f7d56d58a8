"""A client that disconnects mid-stream: the gateway stops reading the upstream at once and
records status 499 ``client_closed`` with what it had delivered.

Through real processes: ``llmgate serve`` (with its writer process and a SQLite store) in front
of a slow loopback SSE upstream (a chunk every 100 ms for 10 s), the official ``openai`` SDK as
the client, which reads for about a second and closes its connection.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import orjson
import pytest
from aiohttp import web

from support.configs import MASTER_KEY
from support.served import ServedGateway
from support.upstream import serve_chat

CHUNKS = 100
INTERVAL_S = 0.1
READ_FOR_S = 1.0


class SlowSse:
    """An OpenAI-style chat stream: one word every ``INTERVAL_S``; notes when its client leaves."""

    def __init__(self) -> None:
        self.sent = 0
        self.disconnected = threading.Event()
        self.disconnected_at: float | None = None
        self.finished = threading.Event()

    async def chat(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        base = {"id": "chatcmpl-slow", "object": "chat.completion.chunk", "created": 0, "model": "slow-model"}
        try:
            for i in range(CHUNKS):
                event = {**base, "choices": [{"index": 0, "delta": {"content": f"w{i} "}}]}
                await response.write(b"data: " + orjson.dumps(event) + b"\n\n")
                self.sent += 1
                await asyncio.sleep(INTERVAL_S)
            await response.write(b"data: [DONE]\n\n")
            self.finished.set()
        except (ConnectionError, asyncio.CancelledError):
            self.disconnected_at = time.monotonic()
            self.disconnected.set()
            raise
        return response


@pytest.fixture
def slow() -> Iterator[tuple[SlowSse, str]]:
    server = SlowSse()
    with serve_chat(server.chat) as base:
        yield server, base


@pytest.fixture
def served(slow: tuple[SlowSse, str], tmp_path: Path) -> Iterator[ServedGateway]:
    _, base = slow
    config = {
        "model_list": [
            {
                "model_name": "slow",
                "litellm_params": {
                    "model": "openai/slow-model",
                    "api_base": base,
                    "api_key": "sk-slow-upstream-0000",
                },
            }
        ],
        "general_settings": {"master_key": MASTER_KEY},
    }
    gateway = ServedGateway(config, tmp_path).start()
    yield gateway
    gateway.stop()


def test_disconnect_mid_stream_closes_upstream_and_records_499(
    slow: tuple[SlowSse, str], served: ServedGateway
) -> None:
    upstream, _ = slow
    received: list[str] = []
    with openai.OpenAI(base_url=served.url + "/v1", api_key=MASTER_KEY, max_retries=0, timeout=20) as client:
        stream = client.chat.completions.create(
            model="slow", messages=[{"role": "user", "content": "Count slowly."}], stream=True
        )
        request_id = stream.response.headers["x-llmgate-request-id"]
        began = time.monotonic()
        for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
            if time.monotonic() - began >= READ_FOR_S:
                break
        stream.close()
        closed_at = time.monotonic()

    assert 5 <= len(received) < 20
    # the gateway hangs up on the upstream as soon as its client has gone (not after 10 s)
    assert upstream.disconnected.wait(3), f"the upstream kept streaming ({upstream.sent} chunks sent)"
    assert upstream.disconnected_at is not None
    delay = upstream.disconnected_at - closed_at
    print(f"\nthe upstream saw the disconnect {delay * 1000:.0f} ms after the client closed")
    assert delay < 1.0
    assert not upstream.finished.is_set() and upstream.sent < CHUNKS // 2

    (row,) = served.rows([request_id])[request_id]
    assert (row["status_code"], row["status"], row["error_type"]) == (499, "error", "client_closed")
    assert row["stream"]
    delivered = "".join(received)
    # what reached the client is recorded (at most the chunk in flight besides), and counted
    assert row["response_text"].startswith(delivered)
    assert len(row["response_text"].split()) <= len(received) + 2
    assert row["completion_tokens"] and row["completion_tokens"] > 0
    assert row["tokens_estimated"]
