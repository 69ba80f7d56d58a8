"""``/v1/responses`` through the official openai SDK, against real upstreams on loopback.

One gateway serves a deployment that speaks the Responses API (``FakeResponsesUpstream``: the body
passed through), one that speaks only chat completions (``FakeUpstream``: translated both ways),
a primary that fails over to the chat-only one, and the mock. Two virtual keys check that a
response is its creator's only.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import openai
import orjson
import pytest
from sqlalchemy import create_engine

from llmgate.store.records import list_records
from support.configs import MASTER_KEY
from support.fake_responses import FakeResponsesUpstream
from support.gateway import RunningGateway
from support.keys import add_key
from support.upstream import FakeUpstream, Fault

IN, OUT, CACHED = Decimal("0.000001"), Decimal("0.000002"), Decimal("0.0000005")
TOOLS: Any = [
    {
        "type": "function",
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
]


def entry(name: str, api_base: str, **info: Any) -> dict[str, Any]:
    params = {"input_cost_per_token": str(IN), "output_cost_per_token": str(OUT)}
    return {
        "model_name": name,
        "litellm_params": {"model": "openai/gpt-4o-mini", "api_base": api_base, "api_key": "sk-up", **params},
        "model_info": {"id": name, **info},
    }


@pytest.fixture(scope="module")
def upstreams() -> Iterator[tuple[FakeResponsesUpstream, FakeUpstream]]:
    native, chat = FakeResponsesUpstream().start(), FakeUpstream().start()
    yield native, chat
    native.stop()
    chat.stop()


@pytest.fixture(scope="module")
def setup(
    upstreams: tuple[FakeResponsesUpstream, FakeUpstream], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RunningGateway, str, str]]:
    native, chat = upstreams
    tmp = tmp_path_factory.mktemp("responses")
    url = f"sqlite:///{tmp / 'store.db'}"
    engine = create_engine(url)
    (key_a, _), (key_b, _) = add_key(engine, "alice"), add_key(engine, "bob")
    engine.dispose()
    native_entry = entry("native", native.base_url)
    native_entry["litellm_params"]["cache_read_input_token_cost"] = str(CACHED)
    config = {
        "model_list": [
            native_entry,
            entry("chat-only", chat.base_url, responses_api=False),
            entry("flaky", native.base_url),
            {"model_name": "mock-echo", "litellm_params": {"model": "mock/echo"}},
        ],
        "router_settings": {"num_retries": 0, "fallbacks": [{"flaky": ["chat-only"]}], "allowed_fails": 100},
        "general_settings": {"master_key": MASTER_KEY},
        "llmgate": {"database_url": url, "spill_dir": str(tmp / "spill")},
    }
    gateway = RunningGateway(config, tmp).start()
    yield gateway, key_a, key_b
    gateway.stop()


@pytest.fixture
def gateway(setup: tuple[RunningGateway, str, str]) -> RunningGateway:
    return setup[0]


def client(gateway: RunningGateway, key: str = MASTER_KEY) -> openai.OpenAI:
    sdk: openai.OpenAI = gateway.client(key)
    return sdk


def record_for(gateway: RunningGateway, marker: str) -> dict[str, Any]:
    """The one record whose request holds ``marker``."""
    gateway.flush()
    rows = [r for r in list_records(gateway.state.engine, limit=1000) if marker in (r["request_json"] or "")]
    assert len(rows) == 1, rows
    return rows[0]


# --- passed through -------------------------------------------------------------------------


def test_passthrough_body_unchanged_and_recorded(
    gateway: RunningGateway, upstreams: tuple[FakeResponsesUpstream, FakeUpstream]
) -> None:
    native, _ = upstreams
    sent: Any = {
        "input": "hello passthrough",
        "instructions": "Be brief.",
        "temperature": 0.3,
        "metadata": {"a": "b"},
    }
    answer = client(gateway).responses.create(model="native", **sent)
    assert answer.output_text == "Upstream responds: hello passthrough"
    assert native.received[-1].path == "/v1/responses"
    assert native.received[-1].body == {**sent, "model": "gpt-4o-mini"}

    row = record_for(gateway, "hello passthrough")
    assert row["endpoint"] == "responses" and row["status_code"] == 200 and row["deployment"] == "native"
    usage = answer.usage
    assert usage is not None
    assert (row["prompt_tokens"], row["completion_tokens"]) == (usage.input_tokens, usage.output_tokens)
    assert (row["cached_tokens"], row["reasoning_tokens"]) == (4, 2) and row["tokens_estimated"] is False
    expected = (usage.input_tokens - 4) * IN + 4 * CACHED + usage.output_tokens * OUT
    assert row["cost_usd"] == expected and row["latency_ms"] > 0
    assert row["response_text"] == answer.output_text
    assert orjson.loads(row["request_json"])["input"] == "hello passthrough"


def test_passthrough_stream_forwards_the_typed_events(gateway: RunningGateway) -> None:
    events = list(client(gateway).responses.create(model="native", input="stream passthrough", stream=True))
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"] and kinds[-1] == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == "Upstream responds: stream passthrough"
    with client(gateway).responses.stream(model="native", input="helper passthrough") as stream:
        final = stream.get_final_response()
    assert final.output_text == "Upstream responds: helper passthrough"
    row = record_for(gateway, "stream passthrough")
    assert row["stream"] is True and row["ttft_ms"] is not None
    assert row["prompt_tokens"] == 12 and row["cached_tokens"] == 4 and row["response_text"] == deltas


def test_passthrough_function_tool_round_trip(
    gateway: RunningGateway, upstreams: tuple[FakeResponsesUpstream, FakeUpstream]
) -> None:
    native, _ = upstreams
    sdk = client(gateway)
    first = sdk.responses.create(model="native", input="weather in Paris?", tools=TOOLS)
    (call,) = first.output
    assert call.type == "function_call" and call.name == "get_weather"
    assert native.received[-1].body["tools"] == TOOLS
    second = sdk.responses.create(
        model="native",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}],
        tools=TOOLS,
    )
    assert second.output_text.startswith("Upstream responds:")
    assert native.received[-1].body["previous_response_id"] == first.id  # the upstream keeps the chain


# --- translated through chat completions ------------------------------------------------------


def test_translated_plain(
    gateway: RunningGateway, upstreams: tuple[FakeResponsesUpstream, FakeUpstream]
) -> None:
    _, chat = upstreams
    answer = client(gateway).responses.create(
        model="chat-only",
        input="hello translated",
        instructions="Be brief.",
        max_output_tokens=50,
        user="u-1",
    )
    assert answer.output_text == "Upstream says: hello translated" and answer.status == "completed"
    body = chat.received[-1].body
    assert chat.received[-1].path == "/v1/chat/completions"
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hello translated"},
    ]
    assert body["max_tokens"] == 50 and body["user"] == "u-1" and "input" not in body
    usage = answer.usage
    assert usage is not None and usage.input_tokens > 0 and usage.output_tokens == 4
    row = record_for(gateway, "hello translated")
    assert row["endpoint"] == "responses" and row["deployment"] == "chat-only"
    assert (row["prompt_tokens"], row["completion_tokens"]) == (usage.input_tokens, usage.output_tokens)
    assert row["cost_usd"] == usage.input_tokens * IN + usage.output_tokens * OUT
    assert orjson.loads(row["request_json"])["instructions"] == "Be brief."  # the client's own body


def test_translated_stream_events(gateway: RunningGateway) -> None:
    events = list(client(gateway).responses.create(model="chat-only", input="stream translated", stream=True))
    kinds = [e.type for e in events]
    assert kinds == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * 4,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    item_id = events[2].item.id
    assert all(e.item_id == item_id and e.output_index == 0 and e.content_index == 0 for e in events[3:10])
    final = events[-1].response
    assert final.output_text == "Upstream says: stream translated" and final.usage is not None
    assert final.id == events[0].response.id
    with client(gateway).responses.stream(model="chat-only", input="helper translated") as stream:
        assert stream.get_final_response().output_text == "Upstream says: helper translated"
    row = record_for(gateway, "stream translated")
    assert row["stream"] is True and row["response_text"] == final.output_text
    assert row["prompt_tokens"] == final.usage.input_tokens and row["tokens_estimated"] is False


@pytest.mark.parametrize("stream", [False, True])
def test_translated_function_tool_round_trip(
    gateway: RunningGateway, upstreams: tuple[FakeResponsesUpstream, FakeUpstream], stream: bool
) -> None:
    _, chat = upstreams
    sdk = client(gateway)
    if stream:
        with sdk.responses.stream(model="chat-only", input=f"weather {stream}?", tools=TOOLS) as events:
            first = events.get_final_response()
    else:
        first = sdk.responses.create(model="chat-only", input=f"weather {stream}?", tools=TOOLS)
    call = first.output[-1]  # streamed, the fake upstream says a few words before the call
    assert (
        call.type == "function_call" and call.name == "get_weather" and call.arguments == '{"city": "Paris"}'
    )
    assert chat.received[-1].body["tools"] == [
        {"type": "function", "function": {k: TOOLS[0][k] for k in ("name", "description", "parameters")}}
    ]
    second = sdk.responses.create(
        model="chat-only",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}],
    )
    assert second.output_text.startswith("Upstream says:")
    assert chat.received[-1].body["messages"] == [
        {"role": "user", "content": f"weather {stream}?"},
        {
            "role": "assistant",
            "content": f"Upstream says: weather {stream}?" if stream else None,  # one message, as chat has it
            "tool_calls": [
                {
                    "id": "call_fake_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_fake_1", "content": "sunny"},
    ]


def test_previous_response_id_continues_a_translated_conversation(
    gateway: RunningGateway, upstreams: tuple[FakeResponsesUpstream, FakeUpstream]
) -> None:
    _, chat = upstreams
    sdk = client(gateway)
    first = sdk.responses.create(model="chat-only", input="My name is Ada.")
    second = sdk.responses.create(model="chat-only", input="What is my name?", previous_response_id=first.id)
    assert chat.received[-1].body["messages"] == [
        {"role": "user", "content": "My name is Ada."},
        {"role": "assistant", "content": "Upstream says: My name is Ada."},
        {"role": "user", "content": "What is my name?"},
    ]
    assert second.previous_response_id == first.id
    third = sdk.responses.create(model="chat-only", input="And again?", previous_response_id=second.id)
    assert len(chat.received[-1].body["messages"]) == 5 and third.output_text

    unkept = sdk.responses.create(model="chat-only", input="forget me", store=False)
    with pytest.raises(openai.NotFoundError) as refused:
        sdk.responses.create(model="chat-only", input="next", previous_response_id=unkept.id)
    assert refused.value.body == {
        "message": f"Previous response with id '{unkept.id}' not found.",
        "type": "invalid_request_error",
        "param": "previous_response_id",
        "code": "previous_response_not_found",
    }


def test_the_mock_answers_the_responses_api(gateway: RunningGateway) -> None:
    answer = client(gateway).responses.create(model="mock-echo", input="hi mock")
    assert answer.output_text == "hi mock" and answer.usage is not None


# --- reading back, and whose it is ------------------------------------------------------------


def test_a_key_reads_only_its_own_responses(
    setup: tuple[RunningGateway, str, str], upstreams: tuple[FakeResponsesUpstream, FakeUpstream]
) -> None:
    gateway, key_a, key_b = setup
    native, _ = upstreams
    alice, bob = client(gateway, key_a), client(gateway, key_b)
    made = alice.responses.create(model="chat-only", input="alice's secret")
    assert alice.responses.retrieve(made.id).output_text == made.output_text
    (item,) = alice.responses.input_items.list(made.id)
    assert item.type == "message" and item.id.startswith("msg_")
    with pytest.raises(openai.NotFoundError):
        bob.responses.retrieve(made.id)
    with pytest.raises(openai.NotFoundError):
        bob.responses.create(model="chat-only", input="tell me", previous_response_id=made.id)
    with pytest.raises(openai.NotFoundError):
        bob.responses.delete(made.id)
    alice.responses.delete(made.id)
    with pytest.raises(openai.NotFoundError):
        alice.responses.retrieve(made.id)

    passed = alice.responses.create(model="native", input="alice passthrough")
    asked = len(native.received)
    with pytest.raises(openai.NotFoundError):
        bob.responses.retrieve(passed.id)
    assert len(native.received) == asked  # not even asked
    assert alice.responses.retrieve(passed.id).output_text == passed.output_text  # forwarded
    assert native.received[-1].path == f"/v1/responses/{passed.id}"
    assert [i.id for i in alice.responses.input_items.list(passed.id)] == ["msg_in"]
    alice.responses.delete(passed.id)
    assert passed.id not in native.kept


# --- failures ------------------------------------------------------------------------------


def test_a_failing_primary_falls_back_to_a_chat_deployment(
    gateway: RunningGateway, upstreams: tuple[FakeResponsesUpstream, FakeUpstream]
) -> None:
    native, _ = upstreams
    native.fail_next(Fault(status=500))
    answer = client(gateway).responses.create(model="flaky", input="fall back please")
    assert answer.output_text == "Upstream says: fall back please"
    row = record_for(gateway, "fall back please")
    assert row["attempts"] == 2 and row["deployment"] == "chat-only" and row["status_code"] == 200


@pytest.mark.parametrize("model", ["native", "chat-only"])
def test_a_stream_cut_mid_way_ends_with_the_error_event(
    gateway: RunningGateway, upstreams: tuple[FakeResponsesUpstream, FakeUpstream], model: str
) -> None:
    native, chat = upstreams
    (native if model == "native" else chat).fail_next(Fault(cut_after=4))
    events = list(client(gateway).responses.create(model=model, input=f"cut {model}", stream=True))
    last = events[-1]
    assert last.type == "error" and last.code == "stream_interrupted"
    assert last.sequence_number == events[-2].sequence_number + 1
    row = record_for(gateway, f"cut {model}")
    assert row["status"] == "error" and row["error_type"] == "stream_interrupted"


def test_a_conversation_carries_over_from_a_translated_to_a_passthrough_deployment(
    gateway: RunningGateway, upstreams: tuple[FakeResponsesUpstream, FakeUpstream]
) -> None:
    native, _ = upstreams
    sdk = client(gateway)
    first = sdk.responses.create(model="chat-only", input="carry this over")
    second = sdk.responses.create(model="native", input="and now?", previous_response_id=first.id)
    sent = native.received[-1].body
    assert "previous_response_id" not in sent  # the upstream never saw llmgate's id
    assert [(i.get("type"), i.get("role")) for i in sent["input"]] == [
        ("message", "user"),
        ("message", "assistant"),
        ("message", "user"),
    ]
    assert sent["input"][1]["content"][0]["text"] == first.output_text
    assert second.output_text == "Upstream responds: and now?"
