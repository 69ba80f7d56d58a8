"""What the gateway's own HTTP providers share (``openai_compat.py``, ``anthropic_native.py``):
one pooled aiohttp session, transport failures and error statuses as llmgate errors (429 with its
``Retry-After``, 5xx retried, other 4xx passed on, a redirect never followed), and an open SSE
stream.

The session keeps connections alive across requests (the pool is what makes a passthrough fast),
keeps no cookie jar (one session serves every client: a cookie one client's upstream set must not
ride on the next request, and the jar's bookkeeping is per request), and ignores proxy settings in
the environment (``trust_env=False``: a gateway's upstreams are its config's, not the shell's).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp

from llmgate.config.deployment import Deployment
from llmgate.errors import (
    ProviderError,
    RateLimited,
    StreamInterrupted,
    UpstreamError,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from llmgate.providers.scrub import scrub_body

__all__ = [
    "OpenStream",
    "error_for",
    "parse_retry_after",
    "passed_headers",
    "pooled_session",
    "transport_error",
]


def pooled_session(pool_size: int) -> aiohttp.ClientSession:
    """A keep-alive session of up to ``pool_size`` connections, shared by every deployment."""
    connector = aiohttp.TCPConnector(
        limit=pool_size, limit_per_host=0, ttl_dns_cache=300, keepalive_timeout=60
    )
    return aiohttp.ClientSession(
        connector=connector, auto_decompress=True, trust_env=False, cookie_jar=aiohttp.DummyCookieJar()
    )


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
    return UpstreamRejected(
        f"upstream {deployment.id} answered {status}",
        status=status,
        body=body,
        content_type=content_type,
        deployment=deployment.id,
    )


def passed_headers(headers: Mapping[str, str], names: tuple[str, ...]) -> dict[str, str]:
    """The upstream's response headers among ``names`` (those worth handing to the client)."""
    return {name: value for name in names if (value := headers.get(name)) is not None}


class OpenStream:
    """An open SSE response; its first chunk was read already (so a stream dead at once could
    still be retried). Yields the bytes as they arrive; a break becomes ``StreamInterrupted``."""

    def __init__(
        self, response: aiohttp.ClientResponse, first: bytes, deployment: Deployment, passed: tuple[str, ...]
    ) -> None:
        self._response = response
        self._first = first
        self._deployment = deployment
        self.status = response.status
        self.content_type = response.headers.get("Content-Type", "text/event-stream")
        self.headers = passed_headers(response.headers, passed)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            if self._first:
                yield self._first
            async for chunk in self._response.content.iter_any():
                yield chunk
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise StreamInterrupted(
                f"upstream {self._deployment.id} stream broke: {type(exc).__name__}",
                deployment=self._deployment.id,
            ) from exc
        finally:
            self._response.release()

    async def aclose(self) -> None:
        self._response.close()
