"""The gateway through the official openai SDK, against a real upstream on loopback.

What an app sees must be what the upstream said; what the gateway records must be right.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import openai
import orjson
import pytest

from llmgate.store.records import list_records
from support.configs import MASTER_KEY, upstream_config
from support.gateway import RunningGateway
from support.upstream import FakeUpstream

MESSAGES: list[Any] = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "What is the capital of France?"},
]
TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


def client_for(gateway: RunningGateway, key: str = MASTER_KEY) -> openai.OpenAI:
    client: openai.OpenAI = gateway.client(key)
    return client


def direct(upstream: FakeUpstream) -> openai.OpenAI:
    client: openai.OpenAI = upstream.client()
    return client


def records(gateway: RunningGateway) -> list[dict[str, Any]]:
    gateway.flush()
    return list_records(gateway.state.engine, limit=1000)


def without_volatile(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != "created"}


def test_chat_identical_to_upstream_and_recorded(gateway: RunningGateway, upstream: FakeUpstream) -> None:
    via = client_for(gateway).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, user="u-42")
    straight = direct(upstream).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, user="u-42")
    assert without_volatile(via.model_dump()) == without_volatile(straight.model_dump())
    assert via.choices[0].message.content == "Upstream says: What is the capital of France?"

    (row,) = records(gateway)
    assert row["status"] == "success" and row["status_code"] == 200
    assert (
        row["model"] == "gpt-4o-mini"
        and row["provider"] == "openai"
        and row["upstream_model"] == "gpt-4o-mini"
    )
    assert row["user"] == "u-42" and row["auth_identity"] == "master"
    assert row["response_text"] == via.choices[0].message.content
    assert row["finish_reason"] == "stop"
    usage = via.usage
    assert usage is not None
    assert (row["prompt_tokens"], row["completion_tokens"], row["total_tokens"]) == (
        usage.prompt_tokens,
        usage.completion_tokens,
        usage.total_tokens,
    )
    assert row["tokens_estimated"] is False
    expected = usage.prompt_tokens * Decimal("0.0000015") + usage.completion_tokens * Decimal("0.000002")
    assert row["cost_usd"] == expected and row["cost_unknown"] is False
    assert row["latency_ms"] > 0 and row["ttft_ms"] is None
    assert row["attempts"] == 1
    assert orjson.loads(row["request_json"])["messages"] == MESSAGES


def test_parameters_pass_through_untouched(gateway: RunningGateway, upstream: FakeUpstream) -> None:
    extra = {
        "tools": TOOLS,
        "tool_choice": "auto",
        "response_format": {"type": "json_object"},
        "logprobs": True,
        "top_logprobs": 2,
        "n": 2,
        "user": "someone",
        "metadata": {"feature": "weather"},
        "temperature": 0.3,
        "seed": 7,
    }
    result = client_for(gateway).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, **extra)
    sent = upstream.received[-1].body
    assert sent["model"] == "gpt-4o-mini"
    assert {k: sent[k] for k in extra} == extra
    assert sent["messages"] == MESSAGES
    assert upstream.received[-1].headers["Authorization"] == "Bearer sk-upstream-secret-key"
    assert MASTER_KEY not in str(upstream.received[-1].headers)
    calls = result.choices[0].message.tool_calls
    assert calls is not None and calls[0].function.name == "get_weather"
    assert len(result.choices) == 2

    (row,) = records(gateway)
    assert row["finish_reason"] == "tool_calls"
    assert orjson.loads(row["tool_calls_json"])[0]["function"]["name"] == "get_weather"
    assert orjson.loads(row["metadata_json"]) == {"feature": "weather"}


def collect(stream: Any) -> tuple[str, list[Any]]:
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return text, chunks


def test_stream_identical_with_usage(gateway: RunningGateway, upstream: FakeUpstream) -> None:
    options: Any = {"include_usage": True}
    via_text, via_chunks = collect(
        client_for(gateway).chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options=options
        )
    )
    straight_text, straight_chunks = collect(
        direct(upstream).chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options=options
        )
    )
    assert via_text == straight_text == "Upstream says: What is the capital of France?"
    assert [without_volatile(c.model_dump()) for c in via_chunks] == [
        without_volatile(c.model_dump()) for c in straight_chunks
    ]
    usage = via_chunks[-1].usage
    assert usage is not None

    (row,) = records(gateway)
    assert row["stream"] is True and row["status"] == "success"
    assert row["response_text"] == via_text
    assert row["prompt_tokens"] == usage.prompt_tokens and row["completion_tokens"] == usage.completion_tokens
    assert row["tokens_estimated"] is False
    assert row["ttft_ms"] is not None and 0 < row["ttft_ms"] <= row["latency_ms"]


def test_stream_without_usage_is_counted_with_tiktoken(
    gateway: RunningGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    text, _ = collect(
        client_for(gateway).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    )
    (row,) = records(gateway)
    assert row["response_text"] == text
    assert row["tokens_estimated"] is True
    # tiktoken's o200k_base counts for gpt-4o-mini: the answer is 10 tokens; the prompt with
    # the chat format's per-message overhead is larger than the words it has. (The count was
    # made in the writer process; here tiktoken needs to be told where the encodings are.)
    import tiktoken

    from llmgate.telemetry.tokens import tiktoken_cache_dir

    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tiktoken_cache_dir()))
    assert row["completion_tokens"] == len(tiktoken.get_encoding("o200k_base").encode(text))
    assert row["prompt_tokens"] > 12
    assert row["cost_usd"] > 0


def test_stream_chunks_arrive_before_upstream_finishes(
    gateway: RunningGateway, upstream: FakeUpstream
) -> None:
    import time

    upstream.chunk_delay_s = 0.3
    stream = client_for(gateway).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    started = time.perf_counter()
    first = next(iter(stream))
    first_at = time.perf_counter() - started
    rest = list(stream)
    total = time.perf_counter() - started
    assert first.choices[0].delta.role == "assistant"
    assert len(rest) > 5
    # the upstream spends 0.3 s per chunk: the first must arrive long before the last
    assert first_at < 0.25 < total - 1.0


def test_tool_call_stream(gateway: RunningGateway) -> None:
    _, chunks = collect(
        client_for(gateway).chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, tools=TOOLS, stream=True
        )
    )
    assert any(c.choices and c.choices[0].delta.tool_calls for c in chunks)
    (row,) = records(gateway)
    assert row["finish_reason"] == "tool_calls"
    assert orjson.loads(row["tool_calls_json"])[0]["function"] == {
        "name": "get_weather",
        "arguments": '{"city": "Paris"}',
    }


def test_embeddings_completions_models(gateway: RunningGateway, upstream: FakeUpstream) -> None:
    client = client_for(gateway)
    emb = client.embeddings.create(model="text-embedding-3-small", input=["hello world", "bye"])
    assert (
        emb.model_dump()
        == direct(upstream).embeddings.create(model="x", input=["hello world", "bye"]).model_dump()
    )
    completion = client.completions.create(model="gpt-4o-mini", prompt="Once upon a time")
    assert completion.choices[0].text == "Upstream completes: Once upon a time"
    listed = sorted(m.id for m in client.models.list())
    assert listed == ["gpt-4o-mini", "mock-echo", "text-embedding-3-small"]
    assert client.models.retrieve("mock-echo").id == "mock-echo"

    rows = {r["endpoint"]: r for r in records(gateway)}
    assert rows["embeddings"]["prompt_tokens"] == emb.usage.prompt_tokens
    assert rows["embeddings"]["response_text"] is None
    assert rows["completions"]["response_text"] == completion.choices[0].text
    assert rows["completions"]["completion_tokens"] == completion.usage.completion_tokens  # type: ignore[union-attr]


def test_mock_provider_needs_no_upstream(gateway: RunningGateway) -> None:
    client = client_for(gateway)
    reply = client.chat.completions.create(
        model="mock-echo", messages=[{"role": "user", "content": "ping pong"}]
    )
    assert reply.choices[0].message.content == "ping pong"
    text, _ = collect(
        client.chat.completions.create(
            model="mock-echo", messages=[{"role": "user", "content": "a b c"}], stream=True
        )
    )
    assert text == "a b c"
    rows = records(gateway)
    assert {r["provider"] for r in rows} == {"mock"}
    assert all(r["cost_usd"] == 0 for r in rows)


@pytest.mark.parametrize("log_prompts_at", ["global", "model"])
def test_log_prompts_false_keeps_hash_and_lengths(
    upstream: FakeUpstream, gateway_factory: Any, log_prompts_at: str
) -> None:
    config = upstream_config(upstream)
    if log_prompts_at == "global":
        config["llmgate"] = {"log_prompts": False}
    else:
        config["model_list"][0]["log_prompts"] = False
    gw = gateway_factory(config)
    client_for(gw).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    (row,) = records(gw)
    assert "capital" not in (row["request_json"] or "")
    assert row["response_text"] is None
    assert len(row["prompt_hash"]) == 64 and row["prompt_chars"] > 20 and row["response_chars"] > 10
    assert row["prompt_tokens"] > 0


def test_admin_app_is_built_on_first_use(gateway: RunningGateway) -> None:
    """FastAPI is not loaded for the proxy routes; the first admin request builds it."""
    assert gateway.app._admin is None
    schema = gateway.get("/openapi.json")
    assert schema.status_code == 200 and schema.json()["info"]["title"] == "llmgate"
    assert gateway.app._admin is not None


def test_readiness_asks_the_writer_process(upstream: FakeUpstream, gateway_factory: Any) -> None:
    from llmgate.recording.writer_process import RecorderProcess

    # without a master key no virtual key can be used, so the keys are not loaded at start either
    gateway = gateway_factory({**upstream_config(upstream), "general_settings": {}})
    assert isinstance(gateway.state.recorder, RecorderProcess)
    deadline = time.monotonic() + 20  # the writer process may still be starting
    while (ready := gateway.get("/health/readiness")).status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ready.json()["store"] == "ok" and ready.json()["recorder"]["writer"] == "process"
    assert gateway.state._engine is None  # the gateway process never opened the store itself


def test_gateway_metadata_is_recorded_but_not_forwarded(
    upstream: FakeUpstream, gateway: RunningGateway
) -> None:
    """``metadata.tags`` and ``metadata.context`` (lists: OpenAI would refuse them) stay with the
    gateway; the app's other metadata goes upstream; the ``x-llmgate-context`` header is recorded."""
    passages = ["Paris is the capital of France.", "It has 2.1 million inhabitants."]
    client_for(gateway).chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        metadata={"feature": "geo", "context": passages, "tags": ["pipeline:rag"]},
        extra_headers={"x-llmgate-context": orjson.dumps(["From the header."]).decode()},
    )
    client_for(gateway).chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, metadata={"context": passages}
    )
    first, second = (r.body for r in upstream.received[-2:])
    assert first["metadata"] == {"feature": "geo"}
    assert "metadata" not in second
    rows = sorted(records(gateway), key=lambda row: row["created_at"])
    recorded = orjson.loads(rows[0]["metadata_json"])
    assert recorded["context"] == passages and recorded["feature"] == "geo"
    assert orjson.loads(recorded["x-llmgate-context"]) == ["From the header."]
    assert orjson.loads(rows[0]["tags_json"]) == {"pipeline": "rag"}
    assert orjson.loads(rows[1]["metadata_json"]) == {"context": passages}
