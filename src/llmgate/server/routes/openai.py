"""The OpenAI API routes, as raw ASGI: chat completions, completions, embeddings, models,
and the health probes.

Thin handlers: read the body (bounded), call the gateway, send what it returns. Paths are
served with and without the ``/v1`` prefix, as LiteLLM's proxy does.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

import orjson

from llmgate.errors import LlmgateError, StoreError
from llmgate.gateway import Reply, StreamReply
from llmgate.protocol import error_body, error_from_exception
from llmgate.protocol.endpoints import Endpoint
from llmgate.routing.modes import served_endpoints
from llmgate.server.http import (
    ClientDisconnected,
    Receive,
    Scope,
    Send,
    check_operator,
    header_map,
    oversized_recorded_header,
    read_body,
    send_reply,
)
from llmgate.server.monitor_readiness import monitor_readiness
from llmgate.server.relay import send_stream

if TYPE_CHECKING:
    from llmgate.server.app import AppState

log = logging.getLogger("llmgate.server")

JSON = "application/json"
READINESS_TIMEOUT_S = 3.0
#: llmgate.recorder.on_unrecordable: refuse, while neither the store nor the spill directory takes records
UNRECORDABLE_BODY = error_body(
    "The gateway cannot record requests right now (neither its store nor its spill directory takes "
    "records), and is configured to refuse them until it can. Try again later.",
    "server_error",
    code="recording_unavailable",
)

ENDPOINTS = {
    "/v1/chat/completions": Endpoint.CHAT,
    "/chat/completions": Endpoint.CHAT,
    "/v1/completions": Endpoint.COMPLETIONS,
    "/completions": Endpoint.COMPLETIONS,
    "/v1/embeddings": Endpoint.EMBEDDINGS,
    "/embeddings": Endpoint.EMBEDDINGS,
    "/v1/responses": Endpoint.RESPONSES,  # GET/DELETE of one response: routes/responses.py
    "/responses": Endpoint.RESPONSES,
    **{
        f"{prefix}/{endpoint.value}": endpoint
        for endpoint in (
            Endpoint.IMAGES_GENERATIONS,
            Endpoint.IMAGES_EDITS,
            Endpoint.AUDIO_SPEECH,
            Endpoint.AUDIO_TRANSCRIPTIONS,
            Endpoint.AUDIO_TRANSLATIONS,
            Endpoint.MODERATIONS,
            Endpoint.RERANK,
        )
        for prefix in ("/v1", "")
    },
}
MODEL_PATHS = ("/v1/models", "/models")
HEALTH_PATHS = (
    "/health",
    "/health/liveness",
    "/health/liveliness",  # LiteLLM's spelling
    "/health/readiness",
    "/health/deployments",
)


def handles(path: str) -> bool:
    return path in ENDPOINTS or path in HEALTH_PATHS or path.startswith(MODEL_PATHS)


async def _method_not_allowed(send: Send, allowed: str) -> None:
    body = error_body(
        f"Method not allowed; use {allowed}.", "invalid_request_error", code="method_not_allowed"
    )
    await send_reply(send, 405, body, JSON, {"allow": allowed})


async def proxy(state: AppState, endpoint: Endpoint, scope: Scope, receive: Receive, send: Send) -> None:
    if scope["method"] != "POST":
        await _method_not_allowed(send, "POST")
        return
    result = await proxy_answer(state, endpoint, header_map(scope), receive)
    if result is None:
        return
    if isinstance(result, Reply):
        await send_reply(send, result.status, result.body, result.content_type, result.headers)
        return
    await send_stream(result, receive, send)


async def proxy_answer(
    state: AppState, endpoint: Endpoint, headers: dict[str, str], receive: Receive
) -> Reply | StreamReply | None:
    """The answer to a POST on a proxy route, however it is then written: by ``proxy`` as ASGI
    messages, or by the edge protocol as bytes (``server/direct.py``). ``None``: the client went
    away while sending its body (nothing to answer, nothing recorded)."""
    started = time.perf_counter()
    if state.recorder.unrecordable and state.config.llmgate.recorder.on_unrecordable == "refuse":
        return Reply(503, UNRECORDABLE_BODY, {"retry-after": "5"})  # nothing forwarded
    oversized = oversized_recorded_header(headers, state.config.llmgate.http.max_recorded_header_bytes)
    if oversized is not None:  # refused before the body is read, and recorded without it
        return state.gateway.reject(endpoint, oversized, started)
    try:
        raw = await read_body(receive, headers, state.config.max_body_bytes)
    except ClientDisconnected:
        return None
    except LlmgateError as exc:
        return state.gateway.reject(endpoint, exc, started)
    return await state.gateway.handle(endpoint, raw, headers, started)


async def models(state: AppState, scope: Scope, receive: Receive, send: Send) -> None:
    if scope["method"] != "GET":
        await _method_not_allowed(send, "GET")
        return
    headers = header_map(scope)
    try:
        identity = await state.authenticator.aauthenticate(
            headers.get("authorization"), headers.get("api-key")
        )
    except LlmgateError as exc:
        await send_reply(send, exc.status_code, error_from_exception(exc), JSON, {})
        return
    path: str = scope["path"]
    key, enforcer = identity.key, state.enforcer
    listing = [
        {
            "id": name,
            "object": "model",
            "created": state.started_at,
            "owned_by": "llmgate",
            "llmgate": served_endpoints(state.router.group(name)),  # beside OpenAI's fields
        }
        for name in state.router.model_names
        if key is None or enforcer is None or enforcer.may_use(key, identity.team, name)
    ]  # a key sees the models it may use (its team's and its user's lists, patterns included)
    if path in MODEL_PATHS:
        await send_reply(send, 200, orjson.dumps({"object": "list", "data": listing}), JSON, {})
        return
    wanted = path.split("/models/", 1)[-1]
    for item in listing:
        if item["id"] == wanted:
            await send_reply(send, 200, orjson.dumps(item), JSON, {})
            return
    body = error_body(
        f"The model '{wanted}' does not exist", "invalid_request_error", param="model", code="model_not_found"
    )
    await send_reply(send, 404, body, JSON, {})


def deployments_health(state: AppState) -> dict[str, Any]:
    """Per deployment: circuit state, recent error rate and latency (no keys, no upstream URLs)."""
    router = state.router
    rows = []
    for deployment in router.deployments:
        rows.append(
            {
                "id": deployment.id,
                "model_name": deployment.model_name,
                "provider": deployment.provider,
                "model": deployment.upstream_model,
                **router.health.snapshot(deployment.id),
            }
        )
    return {"deployments": rows, "shared_state": "redis" if state.shared is not None else "process"}


async def health(state: AppState, scope: Scope, receive: Receive, send: Send) -> None:
    if scope["method"] not in ("GET", "HEAD"):
        await _method_not_allowed(send, "GET")
        return
    if scope["path"] == "/health/deployments":  # circuit states: operators' data, as /metrics is
        try:
            await check_operator(
                state.authenticator,
                state.config.llmgate.metrics_require_auth,
                header_map(scope),
                "GET /health/deployments",
            )
        except LlmgateError as exc:
            await send_reply(send, exc.status_code, error_from_exception(exc), JSON, {})
            return
        await send_reply(send, 200, orjson.dumps(deployments_health(state)), JSON, {})
        return
    if scope["path"] == "/health/liveliness":  # LiteLLM's spelling, and its answer
        await send_reply(send, 200, orjson.dumps("I'm alive!"), JSON, {})
        return
    if scope["path"] != "/health/readiness":
        await send_reply(send, 200, orjson.dumps({"status": "ok"}), JSON, {})
        return
    stats = state.recorder.stats()
    if state.recorder.unrecordable:  # said at once, without waiting on a store that is down
        detail = (
            f"records can be neither stored ({stats.get('last_error') or 'store down'}) nor spilled "
            f"({stats.get('spill_error') or 'spill directory failing'}); {stats.get('at_risk', 0)} "
            "records are held in memory only"
        )
        payload = {"status": "unavailable", "recording": "unavailable", "detail": detail, "recorder": stats}
        await send_reply(send, 503, orjson.dumps(payload, default=str), JSON, {})
        return
    try:
        await asyncio.wait_for(state.check_store(), READINESS_TIMEOUT_S)
    except (StoreError, TimeoutError) as exc:
        message = exc.message if isinstance(exc, StoreError) else "the store did not answer in time"
        payload = {
            "status": "unavailable",
            "store": "unreachable",
            "db": "Not connected",
            "detail": message,
            "recorder": stats,
        }
        await send_reply(send, 503, orjson.dumps(payload, default=str), JSON, {})
        return
    # "db": LiteLLM's readiness field, read by scripts that probe LiteLLM's proxy
    payload = {"status": "ready", "store": "ok", "db": "connected", "recorder": stats}
    if state.config.llmgate.monitors.enabled:  # a failing monitor degrades, never fails, readiness
        payload.update(await monitor_readiness(state, READINESS_TIMEOUT_S))
    await send_reply(send, 200, orjson.dumps(payload, default=str), JSON, {})


async def dispatch(state: AppState, scope: Scope, receive: Receive, send: Send) -> None:
    path: str = scope["path"]
    endpoint = ENDPOINTS.get(path)
    if endpoint is not None:
        await proxy(state, endpoint, scope, receive, send)
    elif path in HEALTH_PATHS:
        await health(state, scope, receive, send)
    else:
        await models(state, scope, receive, send)
