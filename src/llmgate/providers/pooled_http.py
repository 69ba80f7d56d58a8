"""What the gateway's own HTTP providers share (``openai_compat.py``, ``anthropic_native.py``):
one pooled aiohttp session (``PooledClient``: a request read whole, a stream opened), transport
failures and error statuses as llmgate errors (429 with its ``Retry-After``, 5xx retried, other
4xx passed on, in OpenAI's error shape when the upstream's body is not an error object, a
redirect never followed), a 2xx that must be a JSON object, and an open SSE stream.

The session keeps connections alive across requests (the pool is what makes a passthrough fast),
keeps no cookie jar (one session serves every client: a cookie one client's upstream set must not
ride on the next request, and the jar's bookkeeping is per request), and ignores proxy settings in
the environment (``trust_env=False``: a gateway's upstreams are its config's, not the shell's).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
from yarl import URL

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
from llmgate.protocol.errors import json_object, message_in, relayable_error, saying
from llmgate.providers.base import UpstreamResponse
from llmgate.providers.scrub import scrub_body, scrub_message

__all__ = [
    "OpenStream",
    "PooledClient",
    "error_for",
    "json_answer",
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
    said = f"upstream {deployment.id} answered {status}"
    shaped = relayable_error(body, content_type, said)  # not an error object: in OpenAI's shape
    return UpstreamRejected(
        said,
        status=status,
        body=body if shaped is None else shaped,
        content_type=content_type if shaped is None else "application/json",
        deployment=deployment.id,
    )


def passed_headers(headers: Mapping[str, str], names: tuple[str, ...]) -> dict[str, str]:
    """The upstream's response headers among ``names`` (those worth handing to the client)."""
    return {name: value for name in names if (value := headers.get(name)) is not None}


class OpenStream:
    """An open SSE response; its first chunk was read already (so a stream dead at once could
    still be retried). Iterated, it gives the bytes as they arrive (the first chunk, then each
    read), and releases the connection at the end; a break becomes ``StreamInterrupted``.

    It is its own iterator, each step one read of the response, not an async generator over
    aiohttp's iterator: two layers fewer for every chunk relayed."""

    def __init__(
        self, response: aiohttp.ClientResponse, first: bytes, deployment: Deployment, passed: tuple[str, ...]
    ) -> None:
        self._response = response
        self._first = first
        self._deployment = deployment
        self.status = response.status
        self.content_type = response.headers.get("Content-Type", "text/event-stream")
        self.headers = passed_headers(response.headers, passed)

    def __aiter__(self) -> OpenStream:
        return self

    async def __anext__(self) -> bytes:
        first = self._first
        if first:
            self._first = b""
            return first
        try:
            chunk = await self._response.content.readany()
        except (TimeoutError, aiohttp.ClientError) as exc:
            self._response.release()
            raise StreamInterrupted(
                f"upstream {self._deployment.id} stream broke: {type(exc).__name__}",
                deployment=self._deployment.id,
            ) from exc
        if not chunk:
            self._response.release()
            raise StopAsyncIteration
        return chunk

    async def aclose(self) -> None:
        self._response.close()


#: what a 2xx answer holds besides an ``error``: chat and completions, embeddings and lists, the
#: Responses API (a failed response carries its ``error``), Anthropic's messages, rerank
ANSWER_KEYS = frozenset({"choices", "data", "output", "content", "results", "object", "type"})


def _error_instead_of_answer(parsed: dict[str, Any]) -> bool:
    """An ``error`` and nothing an answer holds (or a body that calls itself an error)."""
    if parsed.get("error") is None:
        return False
    if "error" in (parsed.get("object"), parsed.get("type")):
        return True
    return not ANSWER_KEYS.intersection(parsed)


def _plainly_an_answer(data: bytes) -> bool:
    """``{...}`` with no ``"error"`` in it (a string in a JSON text holds a quote only escaped)."""
    text = data.strip()  # the same object when there is nothing to strip
    return text[:1] == b"{" and text[-1:] == b"}" and b'"error"' not in text


def json_answer(
    status: int, data: bytes, headers: Mapping[str, str], deployment: Deployment, passed: tuple[str, ...]
) -> UpstreamResponse:
    """A 2xx answer that must be one JSON object, and no error object in place of an answer
    (anything else is the upstream's error, retried).

    A body that opens and closes as an object and never names an ``"error"`` is taken as the
    answer it looks like, unparsed (the writer parses it for the record): parsing it here cost
    ~2 µs of the gateway's CPU for a short chat answer, and far more for a long one. A body cut
    short fails aiohttp's read (its length or chunking says so); anything else is parsed."""
    if _plainly_an_answer(data):
        return UpstreamResponse(
            status=status,
            body=data,
            content_type=headers.get("Content-Type", "application/json"),
            headers=passed_headers(headers, passed),
        )
    parsed = json_object(data)
    if parsed is None:
        raise UpstreamError(
            f"upstream {deployment.id} answered {status} with a body that is not a JSON object",
            deployment=deployment.id,
            upstream_status=status,
        )
    if _error_instead_of_answer(parsed):  # a proxy's quota error, say
        said = scrub_message(message_in(parsed) or "", deployment)
        raise UpstreamError(
            saying(f"upstream {deployment.id} answered {status} with an error instead of an answer", said),
            deployment=deployment.id,
            upstream_status=status,
        )
    return UpstreamResponse(
        status=status,
        body=data,
        content_type=headers.get("Content-Type", "application/json"),
        headers=passed_headers(headers, passed),
    )


#: URLs and timeouts a client keeps parsed, at most
_MEMO_SIZE = 4096
#: aiohttp's ``ClientTimeout.ceil_threshold``: it rounds longer timeouts' deadlines up to the second
_CEILED_S = aiohttp.ClientTimeout().ceil_threshold


def _client_timeout(seconds: float, whole: bool) -> aiohttp.ClientTimeout:
    if whole:
        return aiohttp.ClientTimeout(total=seconds)
    return aiohttp.ClientTimeout(total=None, sock_connect=seconds, sock_read=seconds)


class PooledClient:
    """The session of one HTTP provider, opened on first use, and its two calls: a request read
    whole, and a stream opened (its first chunk read, so a stream dead at once can still be
    retried or fall back, the client having been sent nothing). Redirects are never followed:
    credentials must not go where the config did not send them."""

    def __init__(self, *, pool_size: int = 512) -> None:
        self._pool_size = pool_size
        self._session: aiohttp.ClientSession | None = None
        # parsed once, not for every request: a deployment's URLs and timeouts repeat (each cost
        # ~0.9 µs of the gateway's CPU a request to make anew); bounded, as wildcard groups make
        # deployments as names come
        self._urls: dict[str, URL] = {}
        self._timeouts: dict[tuple[int, bool], aiohttp.ClientTimeout] = {}

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = pooled_session(self._pool_size)
        return self._session

    def _target(self, url: str) -> URL:
        target = self._urls.get(url)
        if target is None:
            target = URL(url)
            if len(self._urls) < _MEMO_SIZE:
                self._urls[url] = target
        return target

    def _timeout(self, seconds: float, *, whole: bool) -> aiohttp.ClientTimeout:
        """``seconds`` for the ``whole`` exchange, else for connecting and for each read. Past
        aiohttp's ceiling threshold, whose deadlines it rounds up to the second anyway, rounded
        up to the second: an attempt's time left in its request differs every time."""
        if seconds < _CEILED_S:
            return _client_timeout(seconds, whole)
        key = (math.ceil(seconds), whole)
        timeout = self._timeouts.get(key)
        if timeout is None:
            timeout = _client_timeout(key[0], whole)
            if len(self._timeouts) < _MEMO_SIZE:
                self._timeouts[key] = timeout
        return timeout

    async def _read(
        self,
        deployment: Deployment,
        method: str,
        url: str,
        *,
        data: Any = None,
        headers: Mapping[str, str],
        timeout: float,
    ) -> tuple[int, bytes, Mapping[str, str]]:
        """Status, body and headers of a 2xx answer; any other status or failure as llmgate's error."""
        try:
            async with self._client().request(
                method,
                self._target(url),
                data=data,
                headers=headers,
                timeout=self._timeout(timeout, whole=True),
                allow_redirects=False,
            ) as response:
                body, status, answer_headers = await response.read(), response.status, response.headers
        except ProviderError:
            raise
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise transport_error(exc, deployment) from exc
        if status >= 300:
            raise error_for(status, body, answer_headers, deployment)
        return status, body, answer_headers

    async def _open(
        self,
        deployment: Deployment,
        url: str,
        *,
        data: Any,
        headers: Mapping[str, str],
        timeout: float,
        passed: tuple[str, ...],
    ) -> OpenStream:
        response: aiohttp.ClientResponse | None = None
        try:
            response = await self._client().post(
                self._target(url),
                data=data,
                headers=headers,
                timeout=self._timeout(timeout, whole=False),
                allow_redirects=False,
            )
            if response.status >= 300:
                body = await response.read()
                response.release()
                raise error_for(response.status, body, response.headers, deployment)
            first = await response.content.readany()
            if not first:
                response.release()
                raise UpstreamError(
                    f"upstream {deployment.id} closed the stream before sending anything",
                    deployment=deployment.id,
                )
            return OpenStream(response, first, deployment, passed)
        except ProviderError:
            raise
        except (TimeoutError, aiohttp.ClientError) as exc:
            if response is not None:
                response.close()
            raise transport_error(exc, deployment) from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
