"""An upstream's failures as llmgate's errors, as the router's retry table knows them: a transport
failure (``transport_error``: a timeout, an upstream unreachable) and an error status
(``error_for``: 429 with its ``Retry-After``, 5xx retried, other 4xx passed on, in OpenAI's error
shape when the upstream's body is not an error object, a redirect never followed). Shared by the
pooled HTTP providers (``pooled_http.py``).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp

from llmgate.config.deployment import Deployment
from llmgate.errors import (
    ProviderError,
    RateLimited,
    UpstreamError,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from llmgate.protocol.errors import relayable_error
from llmgate.providers.scrub import scrub_body

__all__ = ["error_for", "parse_retry_after", "transport_error"]


def transport_error(exc: BaseException, deployment: Deployment) -> ProviderError:
    """A failure to reach or hear from an upstream, as the router's retry table knows it."""
    if isinstance(exc, asyncio.TimeoutError):
        return UpstreamTimeout(f"upstream {deployment.id} did not answer in time", deployment=deployment.id)
    if isinstance(
        exc, aiohttp.ClientConnectorError | aiohttp.ServerDisconnectedError | aiohttp.ClientOSError
    ):
        return UpstreamUnavailable(f"upstream {deployment.id} is unreachable", deployment=deployment.id)
    return UpstreamError(f"upstream {deployment.id} failed: {type(exc).__name__}", deployment=deployment.id)


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def error_for(status: int, body: bytes, headers: Any, deployment: Deployment) -> ProviderError:
    """An upstream's failure status as the router's retry table knows it (its body kept, scrubbed)."""
    content_type = headers.get("Content-Type", "application/json")
    body = scrub_body(body, deployment)  # an upstream may echo the key it was sent
    if status < 400:  # a redirect (the only 3xx an upstream sends): never followed
        return UpstreamError(
            f"upstream {deployment.id} answered {status}, a redirect, which llmgate does not follow "
            "(set the deployment's api_base to the final URL)",
            deployment=deployment.id,
            upstream_status=status,
        )
    if status == 429:
        return RateLimited(
            f"upstream {deployment.id} is rate limiting (429)",
            deployment=deployment.id,
            retry_after=parse_retry_after(headers.get("Retry-After")),
            body=body,
        )
    if status >= 500:
        return UpstreamError(
            f"upstream {deployment.id} answered {status}",
            deployment=deployment.id,
            upstream_status=status,
            body=body,
        )
    said = f"upstream {deployment.id} answered {status}"
    shaped = relayable_error(body, content_type, said)  # not an error object: in OpenAI's shape
    return UpstreamRejected(
        said,
        status=status,
        body=body if shaped is None else shaped,
        content_type=content_type if shaped is None else "application/json",
        deployment=deployment.id,
    )
