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
