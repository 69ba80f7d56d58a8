"""One request, start to finish: authenticate, parse, route, call, answer, hand to the recorder.

The gateway does the least work it can on the request path. It parses the body once, checks
what routing needs, sends the request to a deployment and gives the client the upstream's
bytes as they came. Everything else — parsing the answer, counting tokens, pricing, writing —
happens afterwards in the recorder, from the ``CallRecord`` built here.

Every request becomes exactly one record, whatever happens: success, a client error, an
upstream failure, a stream broken mid-way or a client that went away.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from llmgate.auth import Authenticator
from llmgate.config.deployment import Deployment
from llmgate.config.schema import GatewayConfig
from llmgate.errors import (
    LlmgateError,
    ProviderError,
    StreamInterrupted,
    UpstreamRejected,
)
from llmgate.protocol import error_body, error_from_exception, parse_request
from llmgate.providers.base import Endpoint, Provider, UpstreamResponse, UpstreamStream
from llmgate.routing import Router
from llmgate.telemetry.records import Attempt, CallRecord

log = logging.getLogger("llmgate.gateway")
T = TypeVar("T")

DEFAULT_TIMEOUT_S = 600.0
JSON = "application/json"
#: status recorded for a client that disconnected before its answer was complete (nginx's 499)
CLIENT_CLOSED = 499


@dataclass(slots=True)
class Reply:
    """A complete answer for the server to send."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = JSON


@dataclass(slots=True)
class StreamReply:
    """An SSE answer: ``chunks`` yields bytes to send as they come."""

    chunks: AsyncIterator[bytes]
    headers: dict[str, str] = field(default_factory=dict)
    status: int = 200
    content_type: str = "text/event-stream"


def _sse_error(exc: LlmgateError) -> bytes:
    return b"data: " + error_from_exception(exc) + b"\n\n"


class Gateway:
    def __init__(
        self,
        config: GatewayConfig,
        *,
        router: Router,
        providers: Mapping[str, Provider],
        authenticator: Authenticator,
        submit: Callable[[CallRecord], None],
    ) -> None:
        self._router = router
        self._providers = providers
        self._auth = authenticator
        self._submit = submit
        self._default_timeout = (
            config.router_settings.timeout or config.litellm_settings.request_timeout or DEFAULT_TIMEOUT_S
        )

    # --- entry points ---------------------------------------------------------------------

    async def handle(
        self, endpoint: Endpoint, raw: bytes, headers: Mapping[str, str], started: float
    ) -> Reply | StreamReply:
        """Serve one proxied request. ``started`` is ``time.perf_counter()`` at arrival."""
        call = CallRecord(
            id=os.urandom(16).hex(),
            created_at=datetime.now(UTC),
            endpoint=endpoint.value,
            model="",
            request={},
            stream=False,
        )
        try:
            identity = self._auth.authenticate(headers.get("authorization"), headers.get("api-key"))
            call.auth_identity = identity.name
            parsed = parse_request(endpoint.value, raw)
            call.model, call.request, call.stream = parsed.model, parsed.body, parsed.stream
            call.user, call.metadata = parsed.user, parsed.metadata
            candidates = self._router.candidates(parsed.model)
            if parsed.stream:
                return await self._open_stream(endpoint, call, candidates, started)
            return await self._complete(endpoint, call, candidates, started)
        except LlmgateError as exc:
            return self._fail(call, exc, started)
        except Exception:
            log.exception("unexpected error serving request %s", call.id)
            return self._fail(call, LlmgateError("The server had an error processing your request."), started)

    def reject(self, endpoint: Endpoint, exc: LlmgateError, started: float) -> Reply:
        """Record and answer a request refused before its body was read (e.g. too large)."""
        call = CallRecord(
            id=os.urandom(16).hex(),
            created_at=datetime.now(UTC),
            endpoint=endpoint.value,
            model="",
            request={},
            stream=False,
        )
        return self._fail(call, exc, started)

    # --- internals ------------------------------------------------------------------------

    def _headers(self, call: CallRecord) -> dict[str, str]:
        headers = {"x-llmgate-request-id": call.id, "x-llmgate-attempts": str(len(call.attempts))}
        if call.deployment is not None:
            headers["x-llmgate-model"] = call.deployment.id
        return headers

    def _body_for(self, deployment: Deployment, call: CallRecord) -> dict[str, Any]:
        body = dict(call.request)
        for key, value in deployment.request_defaults.items():
            body.setdefault(key, value)
        body["model"] = deployment.upstream_model
        return body

    def _timeout(self, deployment: Deployment, stream: bool) -> float:
        if stream and deployment.stream_timeout:
            return deployment.stream_timeout
        return deployment.timeout or self._default_timeout

    def _attempt_failed(
        self, call: CallRecord, deployment: Deployment, exc: ProviderError, t0: float
    ) -> None:
        call.attempts.append(
            Attempt(
                deployment=deployment.id,
                provider=deployment.provider,
                status="error",
                latency_ms=(time.perf_counter() - t0) * 1000,
                error_type=exc.error_type,
                status_code=exc.status_code,
            )
        )

    async def _first_answer(
        self, call: CallRecord, candidates: list[Deployment], attempt: Callable[[Deployment], Awaitable[T]]
    ) -> T:
        """Try ``candidates`` in order until one answers; every try is kept in ``call.attempts``.

        Raises the last ``ProviderError`` when none answered (at once for errors that are the
        caller's, which no other deployment would answer differently).
        """
        last: ProviderError | None = None
        for deployment in candidates:
            call.deployment = deployment
            t0 = time.perf_counter()
            try:
                result = await attempt(deployment)
            except ProviderError as exc:
                self._attempt_failed(call, deployment, exc, t0)
                last = exc
                if not exc.retryable:
                    break
                continue
            latency_ms = (time.perf_counter() - t0) * 1000
            call.attempts.append(
                Attempt(deployment.id, deployment.provider, "success", latency_ms, status_code=200)
            )
            return result
        assert last is not None
        raise last

    async def _complete(
        self, endpoint: Endpoint, call: CallRecord, candidates: list[Deployment], started: float
    ) -> Reply:
        def send(deployment: Deployment) -> Awaitable[UpstreamResponse]:
            provider = self._providers[deployment.kind]
            body = self._body_for(deployment, call)
            return provider.send(deployment, endpoint, body, timeout=self._timeout(deployment, False))

        try:
            response = await self._first_answer(call, candidates, send)
        except ProviderError as exc:
            return self._fail(call, exc, started)
        call.attempts[-1].status_code = response.status
        call.status_code = response.status
        call.response_body = response.body
        call.latency_ms = (time.perf_counter() - started) * 1000
        self._submit(call)
        headers = {**response.headers, **self._headers(call)}
        return Reply(response.status, response.body, headers, response.content_type)

    async def _open_stream(
        self, endpoint: Endpoint, call: CallRecord, candidates: list[Deployment], started: float
    ) -> Reply | StreamReply:
        def open_one(deployment: Deployment) -> Awaitable[UpstreamStream]:
            provider = self._providers[deployment.kind]
            body = self._body_for(deployment, call)
            return provider.open_stream(deployment, endpoint, body, timeout=self._timeout(deployment, True))

        try:
            stream = await self._first_answer(call, candidates, open_one)
        except ProviderError as exc:
            return self._fail(call, exc, started)
        headers = {**stream.headers, **self._headers(call)}
        return StreamReply(self._relay(call, stream, started), headers)

    async def _relay(self, call: CallRecord, stream: UpstreamStream, started: float) -> AsyncIterator[bytes]:
        """Yield the upstream's chunks as they arrive; record the call when the stream ends."""
        delivered = False
        try:
            async for chunk in stream:
                if not delivered:
                    call.ttft_ms = (time.perf_counter() - started) * 1000
                    delivered = True
                call.stream_chunks.append(chunk)
                yield chunk
        except StreamInterrupted as exc:
            call.status_code = exc.status_code
            call.error_type, call.error_message = exc.error_type, exc.message
            call.attempts[-1].status, call.attempts[-1].error_type = "error", exc.error_type
            yield _sse_error(exc)
        except BaseException:
            # GeneratorExit or cancellation: the client went away before the end.
            call.status_code = CLIENT_CLOSED
            call.error_type, call.error_message = "client_disconnected", "the client closed the connection"
            raise
        finally:
            await stream.aclose()
            call.latency_ms = (time.perf_counter() - started) * 1000
            self._submit(call)

    def _fail(self, call: CallRecord, exc: LlmgateError, started: float) -> Reply:
        call.status_code = exc.status_code
        call.error_type, call.error_message = exc.error_type, exc.message
        call.latency_ms = (time.perf_counter() - started) * 1000
        self._submit(call)
        headers = self._headers(call)
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            headers["retry-after"] = str(max(1, round(retry_after)))
        if isinstance(exc, UpstreamRejected):
            return Reply(exc.status_code, exc.body, headers, exc.content_type)
        if exc.status_code >= 500 and not isinstance(exc, ProviderError):
            return Reply(exc.status_code, error_body(exc.message, "server_error"), headers)
        return Reply(exc.status_code, error_from_exception(exc), headers)
