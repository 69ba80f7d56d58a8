"""A provider served through litellm (Anthropic's API, faked on loopback), end to end: the
openai SDK cannot tell, and the call is recorded like any other."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from e2e.test_proxy import client_for, collect, records
from support.fake_anthropic import FakeAnthropic


@pytest.fixture
def anthropic() -> Iterator[FakeAnthropic]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = FakeAnthropic()
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
    yield server
    asyncio.run_coroutine_threadsafe(server.close(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def test_anthropic_through_litellm(anthropic: FakeAnthropic, gateway_factory: Any) -> None:
    gateway = gateway_factory(
        {
            "model_list": [
                {
                    "model_name": "claude",
                    "litellm_params": {
                        "model": "anthropic/claude-sonnet-4-5",
                        "api_base": anthropic.base_url,
                        "api_key": "sk-ant-e2e-secret",
                    },
                }
            ],
            "general_settings": {"master_key": "sk-test-master-0123456789"},
        }
    )
    client = client_for(gateway)
    messages: Any = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Greet me."}]
    reply = client.chat.completions.create(model="claude", messages=messages, max_tokens=50)
    assert reply.choices[0].message.content == "Hello, world!"
    assert reply.usage is not None and reply.usage.prompt_tokens == 12
    text, chunks = collect(
        client.chat.completions.create(
            model="claude", messages=messages, stream=True, stream_options={"include_usage": True}
        )
    )
    assert text == "Hello, world!" and chunks[-1].usage is not None
    sent = anthropic.received[0]
    assert sent.headers["x-api-key"] == "sk-ant-e2e-secret" and sent.body["system"]

    rows = records(gateway)
    assert len(rows) == 2 and {r["provider"] for r in rows} == {"anthropic"}
    for row in rows:
        assert row["status"] == "success" and row["response_text"] == "Hello, world!"
        assert (row["prompt_tokens"], row["completion_tokens"]) == (12, 5) and not row["tokens_estimated"]
        assert row["cost_usd"] > 0  # claude-sonnet-4-5 is in litellm's price map
