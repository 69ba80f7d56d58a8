"""A cached answer told as SSE, and a streamed answer kept as JSON: only complete, non-refused ones."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from llmgate.cache.entries import Entry, decode, encode, storable
from llmgate.cache.replay import Replayed, WholeAnswer, as_events, assemble, replay_chunks
from llmgate.errors import StreamInterrupted
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


def text_completion(finish: str) -> bytes:
    choice = {"index": 0, "text": "done", "logprobs": None, "finish_reason": finish}
    return orjson.dumps(
        {"id": "x", "object": "text_completion", "created": 1, "model": "m", "choices": [choice]}
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
    completion = text_completion("stop")
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


class _Upstream(Replayed):
    """An opened upstream answer of some type, in parts; notes whether it was closed."""

    def __init__(self, parts: list[bytes], content_type: str) -> None:
        super().__init__(parts)
        self.content_type, self.closed = content_type, False

    async def aclose(self) -> None:
        self.closed = True


async def _told(parts: list[bytes], endpoint: str, request: dict[str, Any]) -> tuple[list[bytes], bool]:
    upstream = _Upstream(parts, "application/json; charset=utf-8")
    stream = as_events(upstream, endpoint, request)
    assert isinstance(stream, WholeAnswer) and stream.content_type == "text/event-stream"
    chunks = [chunk async for chunk in stream]
    await stream.aclose()
    return chunks, upstream.closed


async def test_one_json_body_for_a_stream_is_told_as_events_with_its_usage_on_the_last() -> None:
    body = chat({"role": "assistant", "content": "Paris.", "tool_calls": [CALL]}, finish="tool_calls")
    chunks, closed = await _told([body[:10], body[10:]], "chat/completions", {"stream": True})
    assert closed and chunks[-1] == b"data: [DONE]\n\n"
    events = [orjson.loads(c[6:]) for c in chunks[:-1]]
    assert all(e["choices"] for e in events)  # no usage chunk with empty choices: none was asked for
    assert [("usage" in e) for e in events] == [False] * (len(events) - 1) + [True]
    parsed = parse_stream("chat/completions", chunks)
    assert (parsed.texts, parsed.tool_calls, parsed.finish_reason) == (["Paris."], [CALL], "tool_calls")
    assert parsed.usage == {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
    asked, _ = await _told([body], "chat/completions", {"stream_options": {"include_usage": True}})
    last = orjson.loads(asked[-2][6:])
    assert last["choices"] == [] and last["usage"]["total_tokens"] == 8


async def test_a_completion_is_told_too_and_other_endpoints_and_sse_pass_as_they_came() -> None:
    completion = text_completion("length")
    chunks, _ = await _told([completion], "completions", {})
    assert parse_stream("completions", chunks).texts == ["done"]
    assert all(orjson.loads(c[6:])["object"] == "text_completion" for c in chunks[:-1])
    sse = _Upstream([b"data: {}\n\n"], "text/event-stream")
    assert as_events(sse, "chat/completions", {}) is sse
    responses = _Upstream([b"{}"], "application/json")
    assert as_events(responses, "responses", {}) is responses


async def test_one_json_body_that_is_no_completion_ends_the_stream_as_an_error() -> None:
    stream = as_events(
        _Upstream([b'{"error": {"message": "model overloaded"}}'], "application/json"), "chat/completions", {}
    )
    with pytest.raises(StreamInterrupted, match="not a completion: model overloaded"):
        [chunk async for chunk in stream]
