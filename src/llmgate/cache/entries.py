"""What the cache keeps for an answer, and which answers it may keep.

An entry is the answer's JSON body as the client got it (a streamed answer is kept assembled into
that JSON, ``replay.py``), its content type, when it was stored, the deployment that answered
(its prices price a hit's savings) and the model. On the wire: one line of JSON (the metadata),
``\\n``, then the body's bytes untouched.

Never kept: anything but a 200, an answer whose JSON cannot be read, and a refusal (a
``content_filter`` finish or a non-null ``message.refusal``): a refusal says more about the
moment than about the request.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = ["Entry", "decode", "encode", "storable"]

JSON = "application/json"


@dataclass(frozen=True, slots=True)
class Entry:
    body: bytes
    content_type: str = JSON
    stored_at: float = 0.0  # time.time() when stored
    deployment: str | None = None  # the deployment id that answered
    model: str = ""  # the model group asked for

    def age_s(self, now: float | None = None) -> float:
        return (time.time() if now is None else now) - self.stored_at


def encode(entry: Entry) -> bytes:
    head = {"ct": entry.content_type, "at": entry.stored_at, "dep": entry.deployment, "model": entry.model}
    return orjson.dumps(head) + b"\n" + entry.body


def decode(value: bytes) -> Entry | None:
    """The entry stored as ``value``, or None if it is not one (another version's, damaged)."""
    head_bytes, newline, body = value.partition(b"\n")
    if not newline:
        return None
    try:
        head = orjson.loads(head_bytes)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(head, dict) or not isinstance(head.get("at"), int | float):
        return None
    deployment = head.get("dep")
    return Entry(
        body=body,
        content_type=str(head.get("ct") or JSON),
        stored_at=float(head["at"]),
        deployment=deployment if isinstance(deployment, str) else None,
        model=str(head.get("model") or ""),
    )


def storable(endpoint: str, body: bytes) -> bool:
    """A complete answer worth keeping: JSON, with choices (or data), none of them a refusal."""
    try:
        data: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    if not isinstance(data, dict) or "error" in data:
        return False
    if endpoint == "embeddings":
        return isinstance(data.get("data"), list)
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        return False
    for choice in choices:
        if not isinstance(choice, dict) or choice.get("finish_reason") in (None, "content_filter"):
            return False
        message = choice.get("message")
        if isinstance(message, dict) and message.get("refusal") is not None:
            return False
    return True
