"""Reading OpenAI request bodies on the hot path.

The gateway does not validate whole bodies: the upstream does that, and answers in its own
words. It parses the JSON once (orjson) and checks only what it needs to route, limit and
record: ``model``, ``stream``, the endpoint's required field, ``user`` and ``metadata``, and
the bounds every provider is held to whatever it would accept: how deeply the body nests
(``llmgate.http.max_json_depth``, see ``nesting.py``) and ``n``, the choices asked for
(``llmgate.http.max_n``). Everything else is passed on untouched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from llmgate.errors import InvalidRequest
from llmgate.protocol.embedding_format import check_encoding_format
from llmgate.protocol.messages_body import ANTHROPIC_MESSAGES, check_messages, messages_user
from llmgate.protocol.nesting import nesting_error
from llmgate.protocol.responses_wire import check_responses_body

#: the field each endpoint cannot do without
REQUIRED_FIELD = {
    "chat/completions": "messages",
    "completions": "prompt",
    "embeddings": "input",
    "messages": "messages",
    "messages/count_tokens": "messages",
    "images/generations": "prompt",
    "images/edits": "prompt",
    "audio/speech": "input",
    "audio/transcriptions": "file",
    "audio/translations": "file",
    "moderations": "input",
    "rerank": "query",
}
#: defaults of ``llmgate.http.max_json_depth`` and ``llmgate.http.max_n`` (OpenAI's own maximum)
MAX_JSON_DEPTH = 64
MAX_N = 128


@dataclass(slots=True)
class ParsedRequest:
    body: dict[str, Any]
    model: str
    stream: bool
    user: str | None
    metadata: dict[str, Any] | None
    include_usage: bool


def parse_request(
    endpoint: str, raw: bytes, *, max_depth: int = MAX_JSON_DEPTH, max_n: int = MAX_N
) -> ParsedRequest:
    """Parse and check a request body, raising ``InvalidRequest`` with OpenAI-like wording."""
    body, model = read_body(raw, max_depth=max_depth)
    return check_body(endpoint, body, model, max_n=max_n)


def read_body(raw: bytes, *, max_depth: int = MAX_JSON_DEPTH) -> tuple[dict[str, Any], str]:
    """The body as a JSON object and the model it asks for: the first half of ``parse_request``.

    What fails here has no model to record; what ``check_body`` refuses is recorded with its model.
    """
    if not raw:
        raise InvalidRequest("We could not parse the JSON body of your request: the body is empty.")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        reason = exc.args[0] if exc.args else "invalid JSON"
        raise InvalidRequest(f"We could not parse the JSON body of your request ({reason}).") from None
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    # each level of nesting opens a bracket: a body with no more brackets than the limit (in its
    # strings too) cannot pass it, and is not walked (most bodies; 2 µs of the gateway's CPU)
    too_deep = nesting_error(body, max_depth) if raw.count(b"{") + raw.count(b"[") > max_depth else None
    if too_deep is not None:
        raise InvalidRequest(
            f"'{too_deep}' is nested too deeply: at most {max_depth} levels of objects and arrays "
            "are accepted in a request body.",
            param=too_deep,
            code="nesting_too_deep",
        )
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest(
            "you must provide a model parameter" if model is None else "'model' must be a non-empty string",
            param="model",
        )
    return body, model


def check_body(endpoint: str, body: dict[str, Any], model: str, *, max_n: int = MAX_N) -> ParsedRequest:
    """The second half of ``parse_request``: the required field, ``stream``, ``user``, ``metadata``, ``n``."""
    field = REQUIRED_FIELD.get(endpoint)  # None: the endpoint's own check says what it needs
    value = body.get(field) if field is not None else None
    if value is None and field is not None:
        raise InvalidRequest(
            f"Missing required parameter: '{field}'.", param=field, code="missing_required_parameter"
        )
    if endpoint == "chat/completions":
        if not isinstance(value, list) or not value:
            raise InvalidRequest("'messages' must be a non-empty array of message objects.", param="messages")
        for i, message in enumerate(value):
            if not isinstance(message, dict) or not isinstance(message.get("role"), str):
                raise InvalidRequest(
                    f"'messages[{i}]' must be an object with a 'role'.", param=f"messages[{i}]"
                )
    elif endpoint in ANTHROPIC_MESSAGES:
        check_messages(endpoint, body, value)
    elif endpoint == "responses":  # ``input`` or ``previous_response_id`` (responses_wire.py)
        check_responses_body(body)
    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise InvalidRequest("'stream' must be a boolean.", param="stream")
    if stream and endpoint == "embeddings":
        raise InvalidRequest("Embeddings cannot be streamed.", param="stream")
    if stream and endpoint == "messages/count_tokens":
        raise InvalidRequest("Token counts cannot be streamed.", param="stream")
    if endpoint == "embeddings" and "encoding_format" in body:
        check_encoding_format(body["encoding_format"])
    user = body.get("user") if endpoint not in ANTHROPIC_MESSAGES else messages_user(body)
    if user is not None and not isinstance(user, str):
        raise InvalidRequest("'user' must be a string.", param="user")
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise InvalidRequest("'metadata' must be an object.", param="metadata")
    if endpoint != "embeddings" and "n" in body:
        _check_n(body["n"], max_n)
    return ParsedRequest(body, model, stream, user, metadata, include_usage(body))


def include_usage(body: Mapping[str, Any]) -> bool:
    """Whether a stream request asked for a last chunk with the usage (``stream_options``)."""
    options = body.get("stream_options")
    return bool(isinstance(options, dict) and options.get("include_usage"))


def strip_metadata(body: dict[str, Any], metadata: Mapping[str, Any], own: frozenset[str]) -> None:
    """Drop the gateway's own metadata keys (``own``) from the body sent upstream; the record keeps
    them (OpenAI takes only string values there, and these are lists or objects)."""
    forwarded = {k: v for k, v in metadata.items() if k not in own}
    if forwarded:
        body["metadata"] = forwarded
    else:
        body.pop("metadata", None)


def _check_n(n: object, max_n: int) -> None:
    """``n`` as OpenAI takes it: null, or a whole number from 1 to the maximum (128 there too)."""
    if n is None:
        return
    if type(n) is not int:
        raise InvalidRequest("'n' must be an integer.", param="n", code="invalid_type")
    if n < 1:
        raise InvalidRequest(
            f"{n} is less than the minimum of 1 - 'n'", param="n", code="integer_below_min_value"
        )
    if n > max_n:
        raise InvalidRequest(
            f"{n} is greater than the maximum of {max_n} - 'n'", param="n", code="integer_above_max_value"
        )
