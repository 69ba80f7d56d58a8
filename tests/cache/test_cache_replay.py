"""A cached answer told as SSE, and a streamed answer kept as JSON: only complete, non-refused ones."""

from __future__ import annotations

from typing import Any

import orjson

from llmgate.cache.entries import Entry, decode, encode, storable
from llmgate.cache.replay import assemble, replay_chunks
from llmgate.telemetry.answers import parse_stream

CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
}


def chat(message: dict[str, Any], finish: str = "stop", n: int = 1) -> bytes:
    choices = [{"index": i, "message": message, "logprobs": None, "finish_reason": finish} for i in range(n)]
    usage = {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
    return orjson.dumps(
        {
            "id": "c1",
            "object": "chat.completion",
            "created": 7,
            "model": "m",
            "choices": choices,
            "usage": usage,
        }
    )


def test_replay_is_a_valid_stream_of_the_same_answer() -> None:
    body = chat({"role": "assistant", "content": "Paris.", "refusal": None})
    chunks = replay_chunks("chat/completions", body, include_usage=True)
    assert chunks is not None and chunks[-1] == b"data: [DONE]\n\n"
    events = [orjson.loads(c[6:]) for c in chunks[:-1]]
    assert all(e["object"] == "chat.completion.chunk" and e["id"] == "c1" for e in events)
    assert events[-1]["choices"] == [] and events[-1]["usage"]["total_tokens"] == 8
    parsed = parse_stream("chat/completions", chunks)
    assert (parsed.texts, parsed.finish_reason) == (["Paris."], "stop")
    without = replay_chunks("chat/completions", body, include_usage=False)
    assert without is not None and all(b'"usage"' not in c for c in without)


def test_tool_calls_and_several_choices_replay() -> None:
    body = chat({"role": "assistant", "content": None, "tool_calls": [CALL]}, finish="tool_calls", n=2)
    chunks = replay_chunks("chat/completions", body, include_usage=False)
    assert chunks is not None
    parsed = parse_stream("chat/completions", chunks)
    assert parsed.tool_calls == [CALL] and parsed.finish_reason == "tool_calls"
    indexes = {c["index"] for chunk in chunks[:-1] for c in orjson.loads(chunk[6:])["choices"]}
    assert indexes == {0, 1}


def test_a_complete_stream_is_kept_as_its_json() -> None:
    stream = replay_chunks(
        "chat/completions", chat({"role": "assistant", "content": "Hi"}), include_usage=True
    )
    assert stream is not None
    kept = assemble("chat/completions", stream)
    assert kept is not None and storable("chat/completions", kept)
    answer = orjson.loads(kept)
    assert answer["choices"][0]["message"]["content"] == "Hi" and answer["usage"]["total_tokens"] == 8
    completion = orjson.dumps(
        {
            "id": "x",
            "object": "text_completion",
            "created": 1,
            "model": "m",
            "choices": [{"index": 0, "text": "done", "logprobs": None, "finish_reason": "stop"}],
        }
    )
    told = replay_chunks("completions", completion, include_usage=False)
    assert (
        told is not None
        and orjson.loads(assemble("completions", told) or b"{}")["choices"][0]["text"] == "done"
    )


def test_cut_refused_and_filtered_streams_are_not_kept() -> None:
    stream = replay_chunks(
        "chat/completions", chat({"role": "assistant", "content": "Hi"}), include_usage=False
    )
    assert stream is not None
    assert assemble("chat/completions", stream[:2]) is None  # cut: no finish, no [DONE]
    assert assemble("chat/completions", [*stream[:2], stream[-1]]) is None  # [DONE] without a finish
    refusal = b'data: {"id":"c","choices":[{"index":0,"delta":{"refusal":"No."}}]}\n\n'
    assert assemble("chat/completions", [stream[0], refusal, *stream[1:]]) is None
    filtered = replay_chunks(
        "chat/completions",
        chat({"role": "assistant", "content": ""}, finish="content_filter"),
        include_usage=False,
    )
    assert filtered is not None and assemble("chat/completions", filtered) is None


def test_refusals_errors_and_unfinished_answers_are_not_storable() -> None:
    assert storable("chat/completions", chat({"role": "assistant", "content": "ok", "refusal": None}))
    assert not storable("chat/completions", chat({"role": "assistant", "content": None, "refusal": "No."}))
    assert not storable(
        "chat/completions", chat({"role": "assistant", "content": "x"}, finish="content_filter")
    )
    assert not storable("chat/completions", b'{"error": {"message": "x"}}')
    assert not storable("chat/completions", b"not json")
    assert storable("embeddings", b'{"object": "list", "data": []}')


def test_entries_round_trip() -> None:
    entry = Entry(b'{"a": "line\\nbreak"}\n', "application/json", 12.5, "dep-1", "gpt")
    assert decode(encode(entry)) == entry
    assert decode(b"garbage") is None and decode(b"[1]\nbody") is None
