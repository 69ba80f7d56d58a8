"""Anthropic's Messages API on the wire: what the gateway checks in a body
(``protocol/messages_body.py`` through ``check_body``) and its error shapes
(``protocol/anthropic_errors.py``, ``protocol/stream_errors.py``)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from llmgate.errors import InvalidRequest, StreamInterrupted, UpstreamUnavailable
from llmgate.monitors.features import prompt_text
from llmgate.protocol import check_body, error_body
from llmgate.protocol.anthropic_errors import anthropic_error_type, to_anthropic_error
from llmgate.protocol.stream_errors import stream_error

HI: Any = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (413, "request_too_large"),
        (422, "invalid_request_error"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (502, "api_error"),
        (503, "overloaded_error"),
        (529, "overloaded_error"),
    ],
)
def test_error_type_by_status(status: int, kind: str) -> None:
    assert anthropic_error_type(status) == kind
    body = orjson.loads(to_anthropic_error(status, error_body("went wrong", "whatever")))
    assert body == {"type": "error", "error": {"type": kind, "message": "went wrong"}}


def test_an_anthropic_body_is_kept_and_anything_else_gets_words() -> None:
    native = orjson.dumps({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    assert to_anthropic_error(502, native) == native
    made = orjson.loads(to_anthropic_error(502, b"<html>bad gateway</html>"))
    assert made["error"] == {"type": "api_error", "message": "The request failed with HTTP status 502."}


def test_the_stream_error_event_is_the_clients_apis() -> None:
    cut = StreamInterrupted("upstream d1 stream broke")
    name, data = stream_error("messages", cut).strip().split(b"\n")
    assert name == b"event: error"
    assert orjson.loads(data.removeprefix(b"data: ")) == {
        "type": "error",
        "error": {"type": "api_error", "message": "upstream d1 stream broke"},
    }
    assert b"overloaded_error" in stream_error("messages", UpstreamUnavailable("down"))
    openai = stream_error("chat/completions", cut)
    assert openai.startswith(b"data: {") and orjson.loads(openai[6:])["error"]["code"] == "stream_interrupted"


def test_a_messages_body_needs_messages_and_max_tokens() -> None:
    body = {"model": "m", "max_tokens": 5, "messages": HI, "metadata": {"user_id": "u-1"}}
    parsed = check_body("messages", body, "m")
    assert parsed.user == "u-1" and not parsed.stream
    assert check_body("messages/count_tokens", {"model": "m", "messages": HI}, "m").user is None
    for bad, param in [
        ({"model": "m", "messages": HI}, "max_tokens"),
        ({"model": "m", "messages": HI, "max_tokens": 0}, "max_tokens"),
        ({"model": "m", "messages": HI, "max_tokens": "5"}, "max_tokens"),
        ({"model": "m", "messages": [], "max_tokens": 5}, "messages"),
        ({"model": "m", "messages": ["hi"], "max_tokens": 5}, "messages.0"),
        ({"model": "m", "max_tokens": 5}, "messages"),
    ]:
        with pytest.raises(InvalidRequest) as caught:
            check_body("messages", bad, "m")
        assert caught.value.param == param
    with pytest.raises(InvalidRequest, match="cannot be streamed"):
        check_body("messages/count_tokens", {"model": "m", "messages": HI, "stream": True}, "m")


def test_monitors_read_a_messages_prompt() -> None:
    request = {"messages": [{"role": "user", "content": [{"type": "text", "text": "drift on me"}]}]}
    assert prompt_text("messages", request) == "drift on me"
