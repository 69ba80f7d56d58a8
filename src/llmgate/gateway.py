"""One request, start to finish: authenticate, parse, route, call, answer, hand to the recorder.

The gateway does the least work it can on the request path. It parses the body once, checks
what routing needs, sends the request to a deployment and gives the client the upstream's
bytes as they came. Everything else — parsing the answer, counting tokens, pricing, writing —
happens afterwards in the recorder, from the ``CallRecord`` built here.

Every request becomes exactly one record, whatever happens: success, a client error, an
upstream failure, a stream broken mid-way or a client that went away.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from llmgate.apis.base import CURRENT_RECORD
from llmgate.apis.registry import Adapters
from llmgate.auth import Authenticator
from llmgate.auth.enforce import Admission, Enforcer
from llmgate.auth.failures import AuthFailures
from llmgate.auth.keys import api_key_header, bearer_token
from llmgate.auth.tags import request_tags
from llmgate.auth.worst_case import WorstCase
from llmgate.cache.replay import as_events
from llmgate.cache.service import Lookup, Plan, ResponseCache, cache_headers
from llmgate.config.deployment import Deployment
from llmgate.config.schema import GatewayConfig
from llmgate.errors import (
    AuthenticationError,
    LimitExceeded,
    LlmgateError,
    ModelNotFound,
    ProviderError,
    StreamInterrupted,
    UpstreamRejected,
)
from llmgate.pricing import PriceBook
from llmgate.protocol import check_body, error_body, error_from_exception, read_body
from llmgate.protocol.endpoints import Endpoint
from llmgate.protocol.forms import read_form, text_bytes
from llmgate.protocol.requests import strip_metadata
from llmgate.protocol.session_headers import call_session
from llmgate.protocol.stream_errors import stream_error
from llmgate.providers.base import Provider, UpstreamResponse, UpstreamStream
from llmgate.routing import Router
from llmgate.routing.attempts import Attempts
from llmgate.routing.canaries import CanaryTable, canary_headers, variant_body
from llmgate.routing.modes import check_endpoint
from llmgate.telemetry.answers import failed_stream
from llmgate.telemetry.call_ids import new_call_id
from llmgate.telemetry.call_record import CallRecord, attempt_of, bounded_name, call_cost
from llmgate.telemetry.metrics import CallMetrics

log = logging.getLogger("llmgate.gateway")

JSON = "application/json"
#: status recorded for a client that disconnected before its answer was complete (nginx's 499),
#: and its error_type (records before issue 14 said "client_disconnected")
CLIENT_CLOSED, CLIENT_CLOSED_TYPE = 499, "client_closed"

#: Header carrying a request's retrieved passages (a JSON array of strings, or one passage).
CONTEXT_HEADER = "x-llmgate-context"


def _new_call(endpoint: Endpoint) -> CallRecord:
    """A request's record as it arrives: nothing known yet but its endpoint."""
    # id, created_at, endpoint, model, request, stream: positionally (a third cheaper than by name)
    return CallRecord(new_call_id(), datetime.now(UTC), endpoint.value, "", {}, False)


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


class Gateway:
    def __init__(
        self,
        config: GatewayConfig,
        *,
        router: Router,
        providers: Mapping[str, Provider],
        authenticator: Authenticator,
        submit: Callable[[CallRecord], None],
        enforcer: Enforcer | None = None,
        prices: PriceBook | None = None,
        metrics: CallMetrics | None = None,
        adapters: Adapters | None = None,
        cache: ResponseCache | None = None,
        canaries: CanaryTable | None = None,
    ) -> None:
        self._canaries = canaries or CanaryTable()  # canary releases (routing/canaries.py)
        self._enforcer = enforcer
        self._cache = cache  # the response cache (cache/); None when the config turns it on nowhere
        self._adapters = adapters or Adapters()  # a deployment of another API (apis/)
        self._prices = prices or PriceBook()
        self._router = router
        self._worst_case = WorstCase(self._prices, router.reachable)
        self._providers = providers  # by deployment id (server/builders.py: providers/registry.py decides)
        self._auth = authenticator
        self._submit = submit
        self._attempts = Attempts(router, config.routing, attempt_of)  # the retry/fallback loop
        # metadata keys that are the gateway's, not the provider's: never forwarded upstream
        self._own_metadata = frozenset({"tags", config.llmgate.monitors.rag.metadata_key})
        self._max_depth, self._max_n = config.llmgate.http.max_json_depth, config.llmgate.http.max_n
        # 401s are counted and logged, never recorded (a flood of them must not fill the store)
        count = (lambda reason: metrics.count("llmgate_auth_failures_total", (reason,))) if metrics else None
        self._auth_failures = AuthFailures(count)

    # --- entry points ---------------------------------------------------------------------

    async def handle(
        self, endpoint: Endpoint, raw: bytes, headers: Mapping[str, str], started: float
    ) -> Reply | StreamReply:
        """Serve one proxied request. ``started`` is ``time.perf_counter()`` at arrival."""
        call = _new_call(endpoint)
        CURRENT_RECORD.set(call)  # adapters leave what the store keeps with the record (apis/base.py)
        try:
            identity = await self._auth.aauthenticate(headers.get("authorization"), api_key_header(headers))
            call.auth_identity = identity.name
            key = identity.key
            if key is not None:
                call.key_id, call.team_id = key.id, key.team_id
            if endpoint.multipart:  # a file upload: its fields, the files left in ``raw`` (protocol/forms.py)
                body, model = read_form(raw, headers.get("content-type"))
            else:
                body, model = read_body(raw, max_depth=self._max_depth)
            if key is not None and key.aliases and model in key.aliases:  # a key's model aliases (LiteLLM's)
                model = body["model"] = key.aliases[model]
            call.model, call.request = model, body  # a body refused below is recorded with its model
            unknown = False
            try:
                self._router.asked(model)  # a canary's variant group is not a client's to name
            except ModelNotFound:  # recorded under a bounded name, counted under one metrics label
                unknown, call.model, call.model_known = True, bounded_name(model), False
            parsed = check_body(call.endpoint, body, model, max_n=self._max_n)
            call.stream, call.user = parsed.stream, (key.user_id if key is not None else None) or parsed.user
            call.metadata = parsed.metadata
            call.session_id, call.parent_id, call.step = call_session(headers, parsed.body, parsed.metadata)
            call.traceparent = headers.get("traceparent")
            call.tags = request_tags(identity, headers.get("x-llmgate-tags"), parsed.metadata)
            context = headers.get(CONTEXT_HEADER)
            if context:  # retrieved context for the retrieval-quality monitor: recorded, not forwarded
                call.metadata = {**(parsed.metadata or {}), CONTEXT_HEADER: context}
            if parsed.metadata and not self._own_metadata.isdisjoint(parsed.metadata):
                strip_metadata(parsed.body, parsed.metadata, self._own_metadata)
            if key is not None and self._enforcer is not None:  # rpm counts a 403 or 404 too
                await self._enforcer.screen_model(key, identity.team, call.model, known=not unknown)
            if unknown:  # 404 before any attempt
                raise ModelNotFound(
                    f"The model '{call.model}' does not exist or you do not have access to it."
                )
            check_endpoint(call.endpoint, call.model, self._router.group(call.model))  # 400: wrong kind
            admission = None
            if key is not None and self._enforcer is not None:
                worst = functools.partial(
                    self._worst_case.cost,
                    call.endpoint,
                    parsed.model,
                    parsed.body,
                    text_bytes(parsed.body) if endpoint.multipart else len(raw),  # files are not text
                )
                admission = await self._enforcer.admit(
                    key, identity.team, call.user, parsed.model, worst_case=worst
                )
            via = self._canaries.steer(call, headers, identity.is_admin)  # routing/canaries.py
            plan: Plan | None = None
            if self._cache is not None and call.arm is None:  # a hit answers without any upstream
                found = await self._cache.lookup(call.endpoint, call, parsed, identity, headers, via)
                if found.entry is not None:
                    return self._cached(call, found, started, admission)
                plan = found.plan
            elif "cache" in parsed.body:  # LiteLLM's per-request cache controls are never sent upstream
                del parsed.body["cache"]
            if parsed.stream:
                return await self._open_stream(endpoint, call, headers, started, admission, plan, via)
            return await self._complete(endpoint, call, headers, started, admission, plan, via)
        except AuthenticationError as exc:  # only authentication raises it
            token = bearer_token(headers.get("authorization"), api_key_header(headers))
            self._auth_failures.refused(exc.code or "invalid_api_key", token)
            return Reply(exc.status_code, error_from_exception(exc))
        except LlmgateError as exc:
            return self._fail(call, exc, started)
        except Exception:
            log.exception("unexpected error serving request %s", call.id)
            return self._fail(call, LlmgateError("The server had an error processing your request."), started)

    def reject(self, endpoint: Endpoint, exc: LlmgateError, started: float) -> Reply:
        """Record and answer a request refused before its body was read (e.g. too large)."""
        call = _new_call(endpoint)
        return self._fail(call, exc, started)

    # --- internals ------------------------------------------------------------------------

    def _headers(self, call: CallRecord) -> dict[str, str]:
        headers = {"x-llmgate-request-id": call.id, "x-llmgate-attempts": str(len(call.attempts))}
        if call.deployment is not None:
            headers["x-llmgate-model"] = call.deployment.id
        if call.cache is not None:
            headers.update(cache_headers(call))
        if call.arm is not None:
            headers.update(canary_headers(call))
        return headers

    def _cached(
        self, call: CallRecord, found: Lookup, started: float, admission: Admission | None
    ) -> Reply | StreamReply:
        """A cached answer (cache/service.py noted it on the record): recorded like any call."""
        assert found.entry is not None
        headers = {**self._headers(call), **(admission.headers if admission is not None else {})}
        if found.replay is not None:  # a stream request: the answer told as SSE, recorded as it ends
            return StreamReply(self._relay(call, found.replay, started, admission), headers)
        call.response_body, call.latency_ms = found.entry.body, (time.perf_counter() - started) * 1000
        self._account(call, admission)
        self._submit(call)
        return Reply(200, found.entry.body, headers, found.entry.content_type)

    def _body_for(self, deployment: Deployment, call: CallRecord) -> dict[str, Any]:
        """The body for ``deployment`` (its upstream model and request defaults); the call notes it."""
        call.deployment = deployment  # the deployment tried now: on the record and in the headers
        body = dict(call.request)
        for key, value in deployment.request_defaults.items():
            body.setdefault(key, value)
        body["model"] = deployment.upstream_model
        if deployment.request_overrides or deployment.system_prompt is not None:  # a canary's variant
            variant_body(body, deployment, call.endpoint)
        return body

    async def _complete(
        self,
        endpoint: Endpoint,
        call: CallRecord,
        client_headers: Mapping[str, str],
        started: float,
        admission: Admission | None,
        plan: Plan | None = None,
        via: str | None = None,
    ) -> Reply:
        def send(deployment: Deployment, timeout: float) -> Awaitable[UpstreamResponse]:
            provider = self._providers[deployment.id]
            body = self._body_for(deployment, call)
            adapter = self._adapters.for_(endpoint, deployment)
            if adapter is not None:  # the deployment speaks another API
                return adapter.send(provider, deployment, body, client_headers, timeout=timeout)
            return provider.send(deployment, endpoint, body, timeout=timeout)

        try:
            response = await self._attempts.first_answer(
                call.model, send, call.attempts, started=started, via=via
            )
        except ProviderError as exc:
            self._account(call, admission)  # nothing answered: releases its reservation
            return self._fail(call, exc, started)
        except BaseException:
            self._account(call, admission)
            raise
        call.attempts[-1].status_code = response.status
        call.status_code = response.status
        call.response_body = response.body if response.recorded is None else response.recorded
        call.latency_ms = (time.perf_counter() - started) * 1000
        self._account(call, admission)
        self._submit(call)
        if plan is not None:  # kept in the background, after the answer is sent
            plan.keep(call, response.body, response.content_type)
        headers = {**response.headers, **self._headers(call)}
        if admission is not None:
            headers.update(admission.headers)
        return Reply(response.status, response.body, headers, response.content_type)

    async def _open_stream(
        self,
        endpoint: Endpoint,
        call: CallRecord,
        client_headers: Mapping[str, str],
        started: float,
        admission: Admission | None,
        plan: Plan | None = None,
        via: str | None = None,
    ) -> Reply | StreamReply:
        def open_one(deployment: Deployment, timeout: float) -> Awaitable[UpstreamStream]:
            provider = self._providers[deployment.id]
            body = self._body_for(deployment, call)
            adapter = self._adapters.for_(endpoint, deployment)
            if adapter is not None:  # the deployment speaks another API
                return adapter.open_stream(provider, deployment, body, client_headers, timeout=timeout)
            return provider.open_stream(deployment, endpoint, body, timeout=timeout)

        try:
            stream = await self._attempts.first_answer(
                call.model, open_one, call.attempts, started=started, stream=True, via=via
            )
        except ProviderError as exc:
            self._account(call, admission)  # nothing answered: releases its reservation
            return self._fail(call, exc, started)
        except BaseException:
            self._account(call, admission)
            raise
        if plan is not None:  # kept once it ended, if it ended well
            stream = plan.keeping(stream, call)
        headers = {**stream.headers, **self._headers(call)}
        if admission is not None:
            headers.update(admission.headers)
        stream = as_events(stream, call.endpoint, call.request)  # one JSON body told as SSE
        content_type = stream.content_type or "text/event-stream"
        return StreamReply(self._relay(call, stream, started, admission), headers, content_type=content_type)

    async def _relay(
        self, call: CallRecord, stream: UpstreamStream, started: float, admission: Admission | None
    ) -> AsyncIterator[bytes]:
        """Yield the upstream's chunks as they arrive; record the call when the stream ends."""
        delivered = False
        try:
            async for chunk in stream:
                if not delivered:
                    call.ttft_ms = (time.perf_counter() - started) * 1000
                    delivered = True
                call.stream_chunks.append(chunk)
                yield chunk
            if call.deployment is not None and (failed := failed_stream(call.stream_chunks)):
                self._router.health.end_stream(call.deployment.id, ok=False, error=failed)  # an error event
        except StreamInterrupted as exc:
            call.status_code = exc.status_code
            call.error_type, call.error_message = exc.error_type, exc.message
            call.attempts[-1].status, call.attempts[-1].error_type = "error", exc.error_type
            if call.deployment is not None:
                self._router.health.end_stream(call.deployment.id, ok=False, error=exc.error_type)
            yield stream_error(call.endpoint, exc)  # in the client's API (protocol/stream_errors.py)
        except BaseException:
            # GeneratorExit or cancellation: the client went away before the end (the server
            # cancels the relay as soon as it sees the disconnect). The record keeps what was
            # delivered; the finally below closes the upstream connection.
            call.status_code = CLIENT_CLOSED
            call.error_type = CLIENT_CLOSED_TYPE
            call.error_message = "the client closed the connection before the stream ended"
            raise
        finally:
            await stream.aclose()
            call.latency_ms = (time.perf_counter() - started) * 1000
            self._account(call, admission)
            self._submit(call)

    def _account(self, call: CallRecord, admission: Admission | None) -> None:
        """Count a finished (or failed) call against its key's and team's budgets and token
        limits, releasing its reservation; once per admission, whichever path calls it first."""
        if admission is None or not admission.counts or admission.settled or self._enforcer is None:
            return
        try:
            cost, total_tokens = call_cost(call, self._prices)  # the record's own cost and tokens
        except Exception:
            log.exception("could not price request %s for its budget", call.id)
            self._enforcer.settle(admission, None, None)
            return
        self._enforcer.settle(admission, cost, total_tokens)

    def _fail(self, call: CallRecord, exc: LlmgateError, started: float) -> Reply:
        call.status_code = exc.status_code
        call.error_type, call.error_message = exc.error_type, exc.message
        call.latency_ms = (time.perf_counter() - started) * 1000
        self._submit(call)
        headers = self._headers(call)
        if isinstance(exc, LimitExceeded):
            headers.update(exc.headers)
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            headers["retry-after"] = str(max(1, round(retry_after)))
        if isinstance(exc, UpstreamRejected):
            return Reply(exc.status_code, exc.body, headers, exc.content_type)
        if exc.status_code >= 500 and not isinstance(exc, ProviderError):
            return Reply(exc.status_code, error_body(exc.message, "server_error"), headers)
        return Reply(exc.status_code, error_from_exception(exc), headers)
