"""The exception tree of llmgate.

Every failure llmgate knows about is one of these classes. Each boundary translates
into them with ``raise ... from exc`` (provider libraries into ``ProviderError``,
YAML and pydantic into ``ConfigError``) and out of them in exactly one place each:
``server/errors.py`` turns them into OpenAI error JSON, ``cli`` into one line and an
exit code. This module imports nothing from llmgate so that every layer may use it.
"""

from __future__ import annotations


class LlmgateError(Exception):
    """Base class of every error llmgate raises on purpose."""

    #: HTTP status the server answers with when this reaches a client.
    status_code: int = 500
    #: OpenAI error ``type`` field.
    error_type: str = "internal_error"
    #: OpenAI error ``code`` field.
    code: str | None = None
    #: OpenAI error ``param`` field.
    param: str | None = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if param is not None:
            self.param = param
        if code is not None:
            self.code = code


# --- configuration --------------------------------------------------------------------------


class ConfigError(LlmgateError):
    """The configuration file is missing, unreadable or invalid. Stops the start."""

    error_type = "config_error"


def install_hint(extra: str) -> str:
    """How to install an optional extra (``quality``, ``monitors``) into this checkout: the one text
    every "not installed" message ends with. ("llmgate" on PyPI is another project: never name it.)"""
    return (
        f"install the {extra} extra into this checkout: bash scripts/install.sh {extra} "
        f"(CPU torch first, then .venv/bin/pip install -e '.[{extra}]' with the locked versions; "
        f"in Docker: --build-arg EXTRAS={extra})"
    )


# --- the client's request -------------------------------------------------------------------


class InvalidRequest(LlmgateError):
    """Malformed JSON or a body that does not fit the endpoint."""

    status_code = 400
    error_type = "invalid_request_error"


class AuthenticationError(LlmgateError):
    """Missing or wrong API key."""

    status_code = 401
    error_type = "authentication_error"
    code = "invalid_api_key"


class PermissionDenied(LlmgateError):
    """The key is valid but may not do this (for example a model outside its allow-list)."""

    status_code = 403
    error_type = "permission_error"


class ModelNotFound(LlmgateError):
    """The requested model alias is not configured."""

    status_code = 404
    error_type = "invalid_request_error"
    code = "model_not_found"
    param = "model"


class BodyTooLarge(LlmgateError):
    """The request body is larger than ``llmgate.max_request_body_bytes``."""

    status_code = 413
    error_type = "invalid_request_error"
    code = "request_too_large"


class HeaderTooLarge(LlmgateError):
    """A header the gateway records is longer than ``llmgate.http.max_recorded_header_bytes``."""

    status_code = 431
    error_type = "invalid_request_error"
    code = "request_header_fields_too_large"


class LimitExceeded(LlmgateError):
    """A rate limit of the gateway itself (not of the upstream) was hit."""

    status_code = 429
    error_type = "rate_limit_exceeded"
    code = "rate_limit_exceeded"

    def __init__(
        self, message: str, *, retry_after: float | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.headers = headers or {}  # x-ratelimit-* for the client


class BudgetExceeded(LimitExceeded):
    """The key, team or user has spent its budget for the current period."""

    error_type = "budget_exceeded"
    code = "budget_exceeded"


# --- the upstream provider ------------------------------------------------------------------


class ProviderError(LlmgateError):
    """Any failure of an upstream call. ``retryable`` says whether another attempt may help."""

    status_code = 502
    error_type = "upstream_error"
    retryable: bool = True

    def __init__(self, message: str, *, deployment: str | None = None) -> None:
        super().__init__(message)
        self.deployment = deployment


class RateLimited(ProviderError):
    """The upstream answered 429."""

    status_code = 429
    error_type = "rate_limit_exceeded"
    code = "upstream_rate_limited"

    def __init__(
        self,
        message: str,
        *,
        deployment: str | None = None,
        retry_after: float | None = None,
        body: bytes | None = None,
    ) -> None:
        super().__init__(message, deployment=deployment)
        self.retry_after = retry_after
        self.body = body


class UpstreamTimeout(ProviderError):
    """The upstream did not answer within the attempt's timeout."""

    status_code = 504
    error_type = "timeout"
    code = "upstream_timeout"


class UpstreamUnavailable(ProviderError):
    """The upstream could not be reached (connection refused, reset, DNS)."""

    status_code = 503
    error_type = "upstream_unavailable"
    code = "upstream_unavailable"


class UpstreamError(ProviderError):
    """The upstream answered 5xx or something that is not a valid response."""

    status_code = 502
    error_type = "upstream_error"
    code = "upstream_error"

    def __init__(
        self,
        message: str,
        *,
        deployment: str | None = None,
        upstream_status: int | None = None,
        body: bytes | None = None,
    ) -> None:
        super().__init__(message, deployment=deployment)
        self.upstream_status = upstream_status
        self.body = body


class UpstreamRejected(ProviderError):
    """The upstream answered 4xx (not 429): the caller's problem, passed on as it came, never retried."""

    retryable = False
    error_type = "invalid_request_error"

    def __init__(
        self,
        message: str,
        *,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        deployment: str | None = None,
    ) -> None:
        super().__init__(message, deployment=deployment)
        self.status_code = status
        self.body = body
        self.content_type = content_type


class AllDeploymentsFailed(ProviderError):
    """Every deployment (and fallback) that could serve the request failed."""

    def __init__(self, message: str, *, last: ProviderError | None = None) -> None:
        super().__init__(message)
        self.last = last
        if last is not None:
            self.status_code = last.status_code
            self.error_type = last.error_type
            self.code = last.code


class RequestTimeout(ProviderError):
    """The request's total deadline (``request_timeout``) passed before a deployment answered."""

    status_code = 504
    error_type = "timeout"
    code = "request_timeout"
    retryable = False


class NoDeploymentAvailable(ProviderError):
    """Every deployment that could serve the request is cooling down after failures."""

    status_code = 503
    error_type = "upstream_unavailable"
    code = "no_deployment_available"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StreamInterrupted(ProviderError):
    """The upstream stream broke after the client had received bytes."""

    error_type = "stream_interrupted"
    code = "stream_interrupted"


# --- the store ------------------------------------------------------------------------------


class StoreError(LlmgateError):
    """The store (SQLite or PostgreSQL) could not be reached or refused a statement."""

    status_code = 503
    error_type = "store_unavailable"
