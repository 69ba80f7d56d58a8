"""Anthropic's Messages API, spoken natively: bodies and events passed through over pooled aiohttp.

``/v1/messages`` and ``/v1/messages/count_tokens`` to an ``anthropic/`` deployment are not
translated: the client's body (its ``model`` set to the deployment's) goes to
``{api_base or https://api.anthropic.com}/v1/messages`` as it came (system blocks,
``cache_control``, ``thinking``, tool use, images), with the deployment's key as ``x-api-key``
and the client's ``anthropic-version`` (default ``2023-06-01``) and ``anthropic-beta``; the
answer's bytes, or each SSE event, come back as Anthropic sent them. Chat completions to the same
deployments still go through litellm (``litellm_adapter.py``): this sender is used only by the
Messages API's adapter (``apis/messages.py``), which owns it.

HTTP outcomes become llmgate errors as in ``openai_compat.py``: 429 ``RateLimited``, 5xx (529
``overloaded_error`` included) ``UpstreamError`` (retried, fallen back), other 4xx
``UpstreamRejected`` carrying Anthropic's own error body (secrets scrubbed), timeouts and
refused connections as such. Redirects are never followed (credentials must not follow them).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import orjson

from llmgate.config.deployment import Deployment
from llmgate.providers.base import UpstreamResponse
from llmgate.providers.pooled_http import OpenStream, PooledClient, json_answer

__all__ = ["DEFAULT_API_BASE", "DEFAULT_VERSION", "AnthropicNative"]

DEFAULT_API_BASE = "https://api.anthropic.com"
DEFAULT_VERSION = "2023-06-01"
#: client request headers forwarded to Anthropic (the API version and beta features it asked for)
FORWARDED = ("anthropic-version", "anthropic-beta")
#: upstream response headers worth handing to the client
PASSED_HEADERS = ("request-id",)


def messages_url(deployment: Deployment, path: str) -> str:
    """``{base}/v1/{path}``; a base that names ``/v1`` or ``/v1/messages`` already is taken as is
    (as litellm takes an Anthropic ``api_base``). ``ANTHROPIC_API_BASE`` when the deployment has none."""
    base = (deployment.api_base or os.environ.get("ANTHROPIC_API_BASE") or DEFAULT_API_BASE).rstrip("/")
    base = base.removesuffix("/messages")
    return f"{base}/{path}" if base.endswith("/v1") else f"{base}/v1/{path}"


def request_headers(deployment: Deployment, client: Mapping[str, str]) -> dict[str, str]:
    headers = {"content-type": "application/json", "anthropic-version": DEFAULT_VERSION}
    for name in FORWARDED:
        value = client.get(name)
        if value:
            headers[name] = value
    key = deployment.api_key or os.environ.get("ANTHROPIC_API_KEY")  # litellm's default, too
    if key:
        headers["x-api-key"] = key
    headers.update(deployment.extra_headers)
    return headers


class AnthropicNative(PooledClient):
    """One pooled aiohttp client for every ``anthropic/`` deployment's Messages API calls."""

    async def send(
        self,
        deployment: Deployment,
        path: str,
        body: dict[str, Any],
        client_headers: Mapping[str, str],
        *,
        timeout: float,
    ) -> UpstreamResponse:
        """POST ``body`` to ``/v1/{path}`` (``messages`` or ``messages/count_tokens``): the answer."""
        status, data, headers = await self._read(
            deployment,
            "POST",
            messages_url(deployment, path),
            data=orjson.dumps(body),
            headers=request_headers(deployment, client_headers),
            timeout=timeout,
        )
        return json_answer(status, data, headers, deployment, PASSED_HEADERS)

    async def open_stream(
        self,
        deployment: Deployment,
        body: dict[str, Any],
        client_headers: Mapping[str, str],
        *,
        timeout: float,
    ) -> OpenStream:
        """POST a streaming ``messages`` request; errors before the first byte raise here."""
        return await self._open(
            deployment,
            messages_url(deployment, "messages"),
            data=orjson.dumps(body),
            headers=request_headers(deployment, client_headers),
            timeout=timeout,
            passed=PASSED_HEADERS,
        )
