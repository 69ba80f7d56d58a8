"""What the gateway's own HTTP providers share (``openai_compat.py``, ``anthropic_native.py``):
one pooled aiohttp session (``PooledClient``: a request read whole, a stream opened), a 2xx that
must be a JSON object, and an open SSE stream. Failures become llmgate's errors as
``upstream_errors.py`` says; timeouts past 5 s are kept by ``upstream_deadlines.py``'s sweep.

The session keeps connections alive across requests (the pool is what makes a passthrough fast),
keeps no cookie jar (one session serves every client: a cookie one client's upstream set must not
ride on the next request, and the jar's bookkeeping is per request), and ignores proxy settings in
the environment (``trust_env=False``: a gateway's upstreams are its config's, not the shell's).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import aiohttp
from yarl import URL

from llmgate.config.deployment import Deployment
from llmgate.errors import ProviderError, StreamInterrupted, UpstreamError
from llmgate.protocol.errors import json_object, message_in, saying
from llmgate.providers.base import UpstreamResponse
from llmgate.providers.scrub import scrub_message
from llmgate.providers.upstream_deadlines import SWEEP_EVERY_S, Deadlines, timed_out
from llmgate.providers.upstream_errors import error_for, transport_error

__all__ = [
    "OpenStream",
    "PooledClient",
    "json_answer",
    "passed_headers",
    "pooled_session",
]


def pooled_session(pool_size: int) -> aiohttp.ClientSession:
    """A keep-alive session of up to ``pool_size`` connections, shared by every deployment."""
    connector = aiohttp.TCPConnector(
        limit=pool_size, limit_per_host=0, ttl_dns_cache=300, keepalive_timeout=60
    )
    return aiohttp.ClientSession(
        connector=connector, auto_decompress=True, trust_env=False, cookie_jar=aiohttp.DummyCookieJar()
    )


def passed_headers(headers: Mapping[str, str], names: tuple[str, ...]) -> dict[str, str]:
    """The upstream's response headers among ``names`` (those worth handing to the client)."""
    return {name: value for name in names if (value := headers.get(name)) is not None}


class OpenStream:
    """An open SSE response; its first chunk was read already (so a stream dead at once could
    still be retried). Iterated, it gives the bytes as they arrive (the first chunk, then each
    read), and releases the connection at the end; a break becomes ``StreamInterrupted``. A read
    that brought the body's end is the last: the end is not waited for with another (a stream
    whose whole body came in one read: 6,000 instructions fewer a call,
    ``benchmarks/upstream_call_instructions.py``).

    It is its own iterator, each step one read of the response, not an async generator over
    aiohttp's iterator: two layers fewer for every chunk relayed."""

    def __init__(
        self,
        response: aiohttp.ClientResponse,
        first: bytes,
        deployment: Deployment,
        passed: tuple[str, ...],
        deadlines: Deadlines | None = None,
        limit: float = 0.0,
    ) -> None:
        self._response = response
        self._first = first
        self._deployment = deployment
        # each read's timeout (``limit`` s), when the sweep keeps it (else aiohttp's sock_read)
        self._deadlines = deadlines
        self._limit = limit
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
        content = self._response.content
        if content.at_eof():  # the body's end came with what was read: no read left to wait for
            self._response.release()
            raise StopAsyncIteration
        deadlines, task = self._deadlines, None
        # a read waits only until the end has come (what is left is buffered): written out here,
        # as it runs once a read
        if deadlines is not None and not content.is_eof() and (task := asyncio.current_task()) is not None:
            deadlines.waiting[task] = task.get_loop().time() + self._limit
        try:
            chunk = await content.readany()
        except (TimeoutError, aiohttp.ClientError) as exc:
            self._response.release()
            raise self._broke(exc) from exc
        except asyncio.CancelledError:
            if deadlines is None or task is None or not deadlines.was_late(task):
                raise
            self._response.close()
            raise self._broke(timed_out()) from None
        finally:
            if task is not None and deadlines is not None:
                deadlines.waiting.pop(task, None)
                if deadlines.expired:
                    deadlines.end(task)
        if not chunk:
            self._response.release()
            raise StopAsyncIteration
        return chunk

    def _broke(self, exc: BaseException) -> StreamInterrupted:
        name = self._deployment.id
        return StreamInterrupted(f"upstream {name} stream broke: {type(exc).__name__}", deployment=name)

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


#: URLs a client keeps parsed, at most
_MEMO_SIZE = 4096
#: aiohttp's ``ClientTimeout.ceil_threshold``: it rounds longer timeouts' deadlines up to the
#: second; those are kept by the sweep of ``upstream_deadlines.py`` instead, without timers
_CEILED_S = aiohttp.ClientTimeout().ceil_threshold
#: a call whose timeout the sweep keeps: no timer of aiohttp's
_UNTIMED = aiohttp.ClientTimeout()


class PooledClient:
    """The session of one HTTP provider, opened on first use, and its two calls: a request read
    whole, and a stream opened (its first chunk read, so a stream dead at once can still be
    retried or fall back, the client having been sent nothing). Redirects are never followed:
    credentials must not go where the config did not send them."""

    def __init__(
        self, *, pool_size: int = 512, swept_from_s: float = _CEILED_S, sweep_every_s: float = SWEEP_EVERY_S
    ) -> None:
        self._pool_size = pool_size
        self._session: aiohttp.ClientSession | None = None
        # parsed once, not for every request: a deployment's URLs repeat (each cost ~0.9 µs of
        # the gateway's CPU a request to parse anew); bounded, as wildcard groups make
        # deployments as names come
        self._urls: dict[str, URL] = {}
        self._swept_from = swept_from_s  # timeouts this long are kept by the sweep
        self._deadlines = Deadlines(sweep_every_s)

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

    @staticmethod
    def _timers(seconds: float, *, whole: bool) -> aiohttp.ClientTimeout:
        """aiohttp's timers for ``seconds``: the ``whole`` exchange's, else connecting's and each
        read's. Used under ``swept_from_s`` (aiohttp's ceiling threshold: it rounds longer deadlines
        up to the second anyway); from there on the sweep keeps the timeout (``Deadlines``)."""
        if whole:
            return aiohttp.ClientTimeout(total=seconds)
        return aiohttp.ClientTimeout(total=None, sock_connect=seconds, sock_read=seconds)

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
        task = self._deadlines.begin(timeout) if timeout >= self._swept_from else None
        try:
            async with self._client().request(
                method,
                self._target(url),
                data=data,
                headers=headers,
                timeout=_UNTIMED if task is not None else self._timers(timeout, whole=True),
                allow_redirects=False,
            ) as response:
                body, status, answer_headers = await response.read(), response.status, response.headers
        except ProviderError:
            raise
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise transport_error(exc, deployment) from exc
        except asyncio.CancelledError:
            if task is not None and self._deadlines.was_late(task):
                raise transport_error(timed_out(), deployment) from None
            raise
        finally:
            if task is not None:
                self._deadlines.end(task)
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
        task = self._deadlines.begin(timeout) if timeout >= self._swept_from else None
        try:
            response = await self._client().post(
                self._target(url),
                data=data,
                headers=headers,
                timeout=_UNTIMED if task is not None else self._timers(timeout, whole=False),
                allow_redirects=False,
            )
            if task is not None:  # the head came: the first chunk is waited for from now
                self._deadlines.waiting[task] = task.get_loop().time() + timeout
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
            deadlines = self._deadlines if task is not None else None
            return OpenStream(response, first, deployment, passed, deadlines, timeout)
        except ProviderError:
            raise
        except (TimeoutError, aiohttp.ClientError) as exc:
            if response is not None:
                response.close()
            raise transport_error(exc, deployment) from exc
        except asyncio.CancelledError:
            if response is not None:
                response.close()
            if task is not None and self._deadlines.was_late(task):
                raise transport_error(timed_out(), deployment) from None
            raise
        finally:
            if task is not None:
                self._deadlines.end(task)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
