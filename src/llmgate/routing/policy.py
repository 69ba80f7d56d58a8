"""What each upstream failure does: the one table behind retries, fallbacks and cooldowns.

| upstream answer                                | retried | then                         | cools down |
| ---------------------------------------------- | ------- | ---------------------------- | ---------- |
| 429 (waits out a short ``Retry-After``)        | yes     | ``fallbacks``                | Retry-After |
| 500, 502, 503, 504, any 5xx                    | yes     | ``fallbacks``                | counts |
| attempt timeout                                | yes     | ``fallbacks``                | counts |
| connection refused / reset / DNS               | yes     | ``fallbacks``                | counts |
| 200 with a body that is not JSON               | yes     | ``fallbacks``                | counts |
| stream cut before the client had a byte        | yes     | ``fallbacks``                | counts |
| stream cut after the client had bytes          | no      | SSE error event, closed      | counts |
| 400 context window exceeded                    | no      | ``context_window_fallbacks`` | no |
| 400 content policy                             | no      | ``content_policy_fallbacks`` | no |
| 400, 401, 403, 404, 422 (the caller's problem) | no      | passed back as it came       | no |
| total ``request_timeout`` reached              | no      | 504 ``request_timeout``      | - |

Retries stay in the model group (each one may pick another of its deployments); when a group
has no tries left, or all its deployments are cooling down, the next fallback group is tried.
"""

from __future__ import annotations

import enum

import orjson

from llmgate.errors import ProviderError, RateLimited, UpstreamRejected


class Action(enum.Enum):
    RETRY = "retry"  # try again (this group, then the fallbacks)
    CONTEXT_WINDOW = "context_window"  # only the context-window fallbacks can help
    CONTENT_POLICY = "content_policy"  # only the content-policy fallbacks can help
    CALLER = "caller"  # the caller's problem: answer it as it came


_CONTEXT_CODES = frozenset({"context_length_exceeded", "context_window_exceeded", "string_above_max_length"})
_CONTEXT_PHRASES = ("maximum context length", "context window", "context length", "too many tokens")
_POLICY_CODES = frozenset({"content_policy_violation", "content_filter", "content_policy"})
_POLICY_PHRASES = ("content management policy", "content policy", "safety system", "content_filter")


def _error_fields(body: bytes) -> tuple[str, str]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return "", body[:2000].decode("utf-8", "replace").lower()
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return "", ""
    code = error.get("code") or error.get("type") or ""
    return str(code).lower(), str(error.get("message") or "").lower()


def classify(exc: ProviderError) -> Action:
    """The row of the table above that ``exc`` falls in."""
    if isinstance(exc, UpstreamRejected):
        if exc.status_code == 400:
            code, message = _error_fields(exc.body)
            if code in _CONTEXT_CODES or any(p in message for p in _CONTEXT_PHRASES):
                return Action.CONTEXT_WINDOW
            if code in _POLICY_CODES or any(p in message for p in _POLICY_PHRASES):
                return Action.CONTENT_POLICY
        return Action.CALLER
    return Action.RETRY if exc.retryable else Action.CALLER


def counts_as_failure(exc: ProviderError) -> bool:
    """Whether ``exc`` says the deployment is unwell (and so counts towards its cooldown)."""
    return not isinstance(exc, UpstreamRejected)


def retry_after(exc: ProviderError) -> float | None:
    return exc.retry_after if isinstance(exc, RateLimited) else None
