"""``encoding_format`` of ``/v1/embeddings``: which values a client may ask for, and base64 vectors.

Both official OpenAI SDKs send ``encoding_format: "base64"`` unless told otherwise and decode each
``embedding`` string as little-endian float32 (the Node SDK reads an array of floats as base64
too, silently, into a vector of zeros). OpenAI answers that with base64 strings; many providers
answer floats whatever was asked, and some refuse the parameter. This module owns the wire rule
(``float`` or ``base64``, anything else a 400 in OpenAI's words) and the conversion of an answer
of floats into OpenAI's base64 form, so the gateway (``apis/embeddings.py``) can give an SDK what
it asked for whatever the provider returned.
"""

from __future__ import annotations

import base64
import struct
from typing import Any

import orjson

from llmgate.errors import InvalidRequest

__all__ = ["BASE64", "ENCODING_FORMATS", "asks_base64", "base64_vector", "check_encoding_format", "to_base64"]

BASE64 = "base64"
#: the values OpenAI accepts (``null`` or absent: floats)
ENCODING_FORMATS = ("float", BASE64)


def check_encoding_format(value: object) -> None:
    """``InvalidRequest`` (400, ``param: encoding_format``) unless ``value`` is one OpenAI takes."""
    if value is None or value in ENCODING_FORMATS:
        return
    shown = value if isinstance(value, str) else orjson.dumps(value).decode()
    raise InvalidRequest(
        f"Invalid value for 'encoding_format' = {shown}. Supported values: ['float', 'base64'].",
        param="encoding_format",
        code="invalid_value",
    )


def asks_base64(body: dict[str, Any]) -> bool:
    """Whether the client asked for base64 vectors."""
    return body.get("encoding_format") == BASE64


def base64_vector(values: list[Any]) -> str:
    """``values`` as OpenAI sends a base64 embedding: little-endian float32, base64-encoded."""
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode("ascii")


def to_base64(raw: bytes) -> bytes:
    """An OpenAI embeddings answer with every ``embedding`` that is a list of numbers turned into
    its base64 string (those already base64 are kept); ``raw`` itself when there is nothing to
    convert or it is not an embeddings answer (the client then gets what the upstream said)."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return raw
    changed = False
    for item in items:
        vector = item.get("embedding") if isinstance(item, dict) else None
        if isinstance(vector, list):
            try:
                item["embedding"] = base64_vector(vector)
            except struct.error:  # not numbers: left as the upstream sent it
                continue
            changed = True
    return orjson.dumps(data) if changed else raw
