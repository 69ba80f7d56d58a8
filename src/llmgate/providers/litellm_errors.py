"""litellm's exceptions, translated into llmgate's exception tree.

litellm maps provider errors onto OpenAI-like exception classes, not always faithfully (a
refused connection arrives as a 500, Anthropic's 529 as a 500, ``Retry-After`` only on private
attributes). ``translate_error`` looks through the exception's cause chain for the status the
upstream really answered and picks the llmgate class that says what happened, with every
secret of the deployment (and any text shaped like a key) scrubbed from the message.
"""

from __future__ import annotations

import ast
import contextlib
import re
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
import httpx
import orjson

from llmgate.config.deployment import Deployment
from llmgate.errors import (
    ProviderError,
    RateLimited,
    UpstreamError,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from llmgate.protocol import error_body
from llmgate.protocol.redact import scrub_text
from llmgate.providers.scrub import deployment_secrets

_PREFIX = re.compile(r"^\s*(?:litellm\.\w+|\w+(?:Exception|Error))(?::|\s+-)\s*")
_HANDLE_WITH = re.compile(r"\.?\s*Handle with `litellm\.\w+`\.?\s*$")


# --- errors: litellm's exceptions to llmgate's tree ----------------------------------------


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _upstream_status(exc: BaseException) -> int | None:
    """The status the upstream really answered (litellm maps 529 to 500, 413 to 400, ...)."""
    for inner in reversed(_chain(exc)):
        if isinstance(inner, httpx.HTTPStatusError):
            return inner.response.status_code
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def _upstream_message(exc: BaseException) -> tuple[str, dict[str, Any]]:
    """The upstream's own error message (and its parsed error object, if it sent JSON)."""
    text = str(getattr(exc, "message", None) or exc or type(exc).__name__)
    text = _HANDLE_WITH.sub("", text)
    previous = None
    while previous != text:
        previous, text = text, _PREFIX.sub("", text, count=1)
    if text.startswith(("b'", 'b"')):
        with contextlib.suppress(ValueError, SyntaxError, UnicodeDecodeError):
            text = ast.literal_eval(text).decode("utf-8", "replace")
    if text.startswith("{"):
        try:
            parsed = orjson.loads(text)
        except orjson.JSONDecodeError:
            return text, {}
        if isinstance(parsed, dict):
            error = parsed.get("error", parsed)
            if isinstance(error, dict) and isinstance(error.get("message"), str):
                return error["message"], error
            if isinstance(error, str):
                return error, {}
    return text, {}


def _retry_after(exc: BaseException) -> float | None:
    for source in (
        getattr(exc, "litellm_response_headers", None),
        getattr(getattr(exc, "response", None), "headers", None),
        getattr(exc, "headers", None),
    ):
        if not isinstance(source, Mapping | httpx.Headers):
            continue
        headers = {str(k).lower(): str(v) for k, v in source.items()}
        if "retry-after-ms" in headers:
            try:
                return max(0.0, float(headers["retry-after-ms"]) / 1000)
            except ValueError:
                pass
        if "retry-after" in headers:
            value = headers["retry-after"]
            try:
                return max(0.0, float(value))
            except ValueError:
                try:
                    return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
                except (TypeError, ValueError):
                    pass
    return None


_REJECTED_TYPES = {401: ("authentication_error", "invalid_api_key"), 403: ("permission_error", None)}


def translate_error(exc: BaseException, deployment: Deployment, lm: Any) -> ProviderError:
    """The llmgate exception for a litellm (or any other) failure of one call; ``lm`` is the
    litellm module, handed in by the adapter (the only module that imports it)."""
    errors = lm.exceptions
    secrets = deployment_secrets(deployment)
    raw_message, upstream_error = _upstream_message(exc)
    status = _upstream_status(exc)
    detail = scrub_text(raw_message, secrets)
    message = scrub_text(f"{deployment.provider} ({deployment.id}): {raw_message}", secrets)
    did = deployment.id
    chain = _chain(exc)

    if isinstance(exc, errors.Timeout | TimeoutError) or any(
        isinstance(e, httpx.TimeoutException | TimeoutError) for e in chain
    ):
        return UpstreamTimeout(message, deployment=did)
    if isinstance(exc, errors.RateLimitError):
        body = error_body(detail, "rate_limit_exceeded", code="rate_limit_exceeded")
        return RateLimited(message, deployment=did, retry_after=_retry_after(exc), body=body)
    if isinstance(exc, errors.ContextWindowExceededError):
        body = error_body(detail, "invalid_request_error", code="context_length_exceeded", param="messages")
        return UpstreamRejected(message, status=400, body=body, deployment=did)
    if isinstance(exc, errors.ContentPolicyViolationError):
        body = error_body(detail, "invalid_request_error", code="content_policy_violation")
        return UpstreamRejected(message, status=400, body=body, deployment=did)
    if isinstance(exc, errors.APIConnectionError) or any(
        isinstance(e, httpx.ConnectError | aiohttp.ClientConnectorError | ConnectionError) for e in chain
    ):
        return UpstreamUnavailable(message, deployment=did)
    rejected = (
        errors.BadRequestError,
        errors.AuthenticationError,
        errors.PermissionDeniedError,
        errors.NotFoundError,
        errors.UnprocessableEntityError,
    )
    if isinstance(exc, rejected):
        reported = getattr(exc, "status_code", 400)
        code_status = status if status is not None and 400 <= status < 500 and status != 429 else reported
        error_type, code = _REJECTED_TYPES.get(code_status, ("invalid_request_error", None))
        param = upstream_error.get("param") if isinstance(upstream_error.get("param"), str) else None
        body = error_body(detail, error_type, code=code, param=param)
        return UpstreamRejected(message, status=code_status, body=body, deployment=did)
    body = error_body(detail, "upstream_error", code="upstream_error")
    return UpstreamError(message, deployment=did, upstream_status=status, body=body)


# --- the provider ---------------------------------------------------------------------------
