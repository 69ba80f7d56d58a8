"""OpenAI's error body: ``{"error": {"message", "type", "param", "code"}}``.

The one place where llmgate's exceptions become the JSON a client reads. Messages are the
exceptions' own text, which llmgate writes without secrets; nothing else (no traceback, no
upstream URL with credentials) is ever put into a body.
"""

from __future__ import annotations

import orjson

from llmgate.errors import LlmgateError


def error_body(message: str, error_type: str, *, param: str | None = None, code: str | None = None) -> bytes:
    return orjson.dumps({"error": {"message": message, "type": error_type, "param": param, "code": code}})


def error_from_exception(exc: LlmgateError) -> bytes:
    return error_body(exc.message, exc.error_type, param=exc.param, code=exc.code)
