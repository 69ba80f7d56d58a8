"""``answers.failed_stream``: whether a stream ended with an error event, read from its tail, as
the gateway asks at the end of every stream (for the circuit breaker)."""

from __future__ import annotations

import orjson
import pytest

from llmgate.telemetry.answers import failed_stream, parse_stream


def data(event: object) -> bytes:
    return b"data: " + orjson.dumps(event) + b"\n\n"


def chunk(text: str) -> bytes:
    return data({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": text}}]})


ENDS = [
    pytest.param([data({"error": {"message": "overloaded", "type": "server_error"}})], id="openai"),
    pytest.param([data({"error": {"message": "overloaded"}}), b"data: [DONE]\n\n"], id="openai-then-done"),
    pytest.param(
        [b"event: error\n" + data({"type": "error", "error": {"type": "overloaded_error", "message": "x"}})],
        id="anthropic",
    ),
    pytest.param([data({"type": "error", "code": "server_error", "message": "x"})], id="responses-error"),
    pytest.param(
        [data({"type": "response.failed", "response": {"status": "failed"}})], id="responses-failed"
    ),
    pytest.param([chunk("a") + data({"error": {"message": "late"}})], id="in-one-chunk"),
]


@pytest.mark.parametrize("end", ENDS)
def test_an_error_event_at_the_end_is_a_failed_stream(end: list[bytes]) -> None:
    chunks = [chunk(f"word {i}") for i in range(20)] + end
    assert failed_stream(chunks) == "upstream_error"


@pytest.mark.parametrize(
    "chunks",
    [
        pytest.param(
            [chunk("an error"), chunk(' "error": response.failed'), b"data: [DONE]\n\n"], id="words"
        ),
        pytest.param([data({"error": None, "choices": []}), b"data: [DONE]\n\n"], id="error-null"),
        pytest.param([data({"type": "response.completed", "response": {"error": None}})], id="completed"),
        pytest.param([b"data: {not json", b' "error"}\n\n'], id="not-json"),
        pytest.param([], id="empty"),
    ],
)
def test_a_stream_that_ended_well_is_not(chunks: list[bytes]) -> None:
    assert failed_stream(chunks) is None


@pytest.mark.parametrize("after", [5, 1], ids=["chunks-later", "one-event-later"])
def test_an_error_event_before_the_end_is_the_writers_to_find(after: int) -> None:
    """Only the last event is read on the request path; the record (parse_stream) still says failed."""
    chunks = [data({"error": {"message": "early"}})] + [chunk(f"w{i}") for i in range(after)]
    assert failed_stream(chunks) is None
    assert parse_stream("chat/completions", chunks).error == "early"


def test_in_one_chunk_of_many_events_only_the_last_counts() -> None:
    """An upstream's events may come many to a read: the stream failed only if the last one says so."""
    events = [chunk(f"w{i}") for i in range(50)]
    early = data({"error": {"message": "early"}})
    assert failed_stream([early + b"".join(events) + b"data: [DONE]\n\n"]) is None
    assert failed_stream([b"".join(events) + early + b"data: [DONE]\n\n"]) == "upstream_error"


def _openai_stream(events: int) -> bytes:
    """A stream as OpenAI writes it: content deltas, a finish, a usage event and ``[DONE]``."""
    parts = [chunk(f" w{i}") for i in range(events)]
    parts.append(
        data({"id": "c1", "model": "m", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    )
    parts.append(data({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": events}}))
    return b"".join(parts) + b"data: [DONE]\n\n"


SHAPES = [
    pytest.param([_openai_stream(12)], id="openai"),
    pytest.param([_openai_stream(3)[:40], _openai_stream(3)[40:]], id="split-mid-event"),
    pytest.param([_openai_stream(3).replace(b"\n\n", b"\r\n\r\n")], id="crlf"),
    pytest.param([_openai_stream(3).replace(b"data: ", b"data:")], id="no-space"),
    pytest.param([b": keep-alive\n\n" + _openai_stream(3)], id="comment"),
    pytest.param([_openai_stream(2) + b"data: {not json}\n\n"], id="a-bad-event"),
    pytest.param(
        [_openai_stream(2).replace(b'"choices":[]', b'"choices":[], "x": 1}, {"y": 2')], id="two-values"
    ),
    pytest.param([chunk("a\n\ndata: b") + b"data: [DONE]\n\n"], id="separator-inside-a-string"),
]


@pytest.mark.parametrize("chunks", SHAPES)
def test_every_shape_of_stream_reads_as_event_by_event(chunks: list[bytes]) -> None:
    """The whole-stream fast path and the event-by-event reading agree, whatever the stream's shape."""
    raw = b"".join(chunks)
    one_by_one = []
    for line in raw.splitlines():
        payload = line[5:].strip() if line.startswith(b"data:") else b""
        if payload and payload != b"[DONE]":
            try:
                one_by_one.append(orjson.loads(payload))
            except orjson.JSONDecodeError:
                continue
    parsed = parse_stream("chat/completions", chunks)
    expected_text = "".join(
        str(e["choices"][0]["delta"].get("content") or "")
        for e in one_by_one
        if isinstance(e, dict) and e.get("choices")
    )
    assert parsed.texts == ([expected_text] if expected_text else [])
    usages = [e["usage"] for e in one_by_one if isinstance(e, dict) and "usage" in e]
    assert parsed.usage == (usages[-1] if usages else None)
