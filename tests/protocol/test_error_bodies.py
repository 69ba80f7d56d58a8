"""OpenAI's error shape for what an upstream said (``protocol/errors.py``)."""

from __future__ import annotations

import orjson
import pytest

from llmgate.protocol.errors import DETAIL_CHARS, relayable_error

PREFIX = "upstream openai-1 answered 404"


@pytest.mark.parametrize(
    "body",
    [
        b'{"error": {"message": "Invalid URL (POST /v1/x)", "type": "invalid_request_error", "param": null, "code": null}}',
        b'{"type": "error", "error": {"type": "not_found_error", "message": "model: claude-9"}}',
    ],
)
def test_an_error_object_goes_as_it_came(body: bytes) -> None:
    assert relayable_error(body, "application/json", PREFIX) is None


@pytest.mark.parametrize(
    ("body", "content_type", "said"),
    [
        (b"404: Not Found", "text/plain; charset=utf-8", "404: Not Found"),
        (
            b"<html><body><h1>404 Not Found</h1>\n<hr><center>nginx</center></body></html>",
            "text/html",
            "404 Not Found nginx",
        ),
        (
            b'{"error": "model \'llama9\' not found, try pulling it first"}',
            "application/json",
            "model 'llama9' not found, try pulling it first",
        ),
        (
            b'{"object": "error", "message": "The model `x` does not exist.", "type": "NotFoundError", "code": 404}',
            "application/json",
            "The model `x` does not exist.",
        ),
        (b"[1, 2]", "application/json", "[1, 2]"),
        (
            b"<b>tags stay when the type is not HTML</b>",
            "text/plain",
            "<b>tags stay when the type is not HTML</b>",
        ),
        (b"bad \xff byte", "text/plain", "bad \ufffd byte"),
    ],
)
def test_anything_else_is_put_into_openai_shape(body: bytes, content_type: str, said: str) -> None:
    shaped = relayable_error(body, content_type, PREFIX)
    assert shaped is not None
    assert orjson.loads(shaped) == {
        "error": {
            "message": f"{PREFIX}: {said}",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }


def test_an_empty_body_says_the_status_only() -> None:
    shaped = relayable_error(b"  \n", "text/plain", PREFIX)
    assert shaped is not None and orjson.loads(shaped)["error"]["message"] == PREFIX


def test_a_long_page_is_cut() -> None:
    shaped = relayable_error(b"word " * 1000, "text/plain", PREFIX)
    assert shaped is not None
    message = orjson.loads(shaped)["error"]["message"]
    assert message.endswith("…") and len(message) == len(PREFIX) + 2 + DETAIL_CHARS
