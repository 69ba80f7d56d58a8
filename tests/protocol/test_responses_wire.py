"""What the gateway checks of a /v1/responses body, and the error event that ends a cut stream."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from llmgate.errors import InvalidRequest, StreamInterrupted
from llmgate.protocol.requests import check_body
from llmgate.protocol.responses_wire import ResponsesStreamCut, responses_sse_error


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "input"),
        ({"input": 3}, "input"),
        ({"input": ["x"]}, "input[0]"),
        ({"previous_response_id": ""}, "previous_response_id"),
        ({"input": "x", "store": "yes"}, "store"),
        ({"input": "x", "max_output_tokens": 0}, "max_output_tokens"),
        ({"input": "x", "tools": {}}, "tools"),
        ({"input": "x", "stream": "true"}, "stream"),
    ],
)
def test_bodies_refused(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        check_body("responses", {"model": "m", **body}, "m")
    assert refused.value.param == param


def test_bodies_accepted() -> None:
    parsed = check_body("responses", {"model": "m", "input": "hi", "stream": True, "user": "u"}, "m")
    assert parsed.stream is True and parsed.user == "u"
    assert check_body("responses", {"model": "m", "previous_response_id": "resp_1"}, "m").stream is False
    assert check_body("responses", {"model": "m", "input": [{"role": "user", "content": "hi"}]}, "m")


def test_the_error_event_follows_the_events_sent() -> None:
    raw = responses_sse_error(ResponsesStreamCut("upstream broke", sequence_number=7))
    assert raw.startswith(b"event: error\ndata: ") and raw.endswith(b"\n\n")
    event = orjson.loads(raw.split(b"data: ", 1)[1])
    assert event == {
        "type": "error",
        "code": "stream_interrupted",
        "message": "upstream broke",
        "param": None,
        "sequence_number": 7,
    }
    assert (
        orjson.loads(responses_sse_error(StreamInterrupted("x")).split(b"data: ", 1)[1])["sequence_number"]
        == 0
    )
