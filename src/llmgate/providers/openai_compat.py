"""Forwarding to OpenAI-compatible upstreams over one pooled aiohttp client.

This is the hot path: OpenAI, Azure OpenAI, vLLM, Ollama's ``/v1`` and any ``api_base`` that
speaks the OpenAI API. One ``aiohttp.ClientSession`` with a keep-alive connection pool serves
every deployment (httpx's pool contends under concurrency; see benchmarks/). Response bytes
are handed back as they came; only the request's ``model`` is rewritten to the upstream's.

HTTP outcomes become llmgate errors here: 429 ``RateLimited`` (with ``Retry-After``), 5xx and
unparseable bodies ``UpstreamError``, other 4xx ``UpstreamRejected`` carrying the upstream's
own body (its deployment's secrets scrubbed, ``providers/scrub.py``), timeouts ``UpstreamTimeout``,
refused or reset connections ``UpstreamUnavailable``.

Upstream redirects are never followed: a deployment's credentials (``api-key``, ``Authorization``,
its ``extra_headers``) must not reach whatever origin a redirect names, and a POST is not
re-sent blindly. As nginx and Envoy do for proxied requests, the 3xx is not acted on; unlike
them it is not handed to the client either (whose SDK would follow it with its own key): it
becomes an ``UpstreamError`` (502) naming the deployment, retried or fallen back like any.
Set ``api_base`` to the final URL.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp.abc import AbstractStreamWriter
from aiohttp.payload import Payload

from llmgate.config.deployment import Deployment
from llmgate.config.provider_kinds import OPENAI_COMPATIBLE_PROVIDERS
from llmgate.config.schema import GatewayConfig
from llmgate.errors import (
    UpstreamError,
)
from llmgate.protocol.endpoints import Endpoint
from llmgate.protocol.forms import form_of, form_pieces
from llmgate.providers.base import ProviderKind, UpstreamResponse, media_answer
from llmgate.providers.pooled_http import OpenStream, PooledClient, json_answer, passed_headers

DEFAULT_TIMEOUT_S = 600.0
#: upstream response headers worth handing to the client
PASSED_HEADERS = ("x-request-id", "openai-processing-ms", "openai-version")
#: Azure OpenAI's Responses API needs an api-version at least this recent
AZURE_RESPONSES_VERSION = "2025-04-01-preview"
#: endpoints whose answer may be other than a JSON object: audio bytes, a transcript as text/SRT/VTT
NOT_ONLY_JSON = frozenset({Endpoint.AUDIO_SPEECH, Endpoint.AUDIO_TRANSCRIPTIONS, Endpoint.AUDIO_TRANSLATIONS})


class FormPayload(Payload):
    """A multipart body forwarded as the client sent it: the pieces of ``form_pieces`` written in
    turn (slices of the one body the server read, never joined into a copy), with its length."""

    def __init__(self, pieces: list[bytes | memoryview], content_type: str) -> None:
        super().__init__(pieces, content_type=content_type)
        self._size = sum(len(piece) if isinstance(piece, bytes) else piece.nbytes for piece in pieces)

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        return b"".join(self._value).decode(encoding, errors)

    async def write(self, writer: AbstractStreamWriter) -> None:
        for piece in self._value:
            await writer.write(piece)


#: endpoints whose request is a multipart form (a file upload), forwarded by ``_form_request``
FORMS = frozenset(endpoint for endpoint in Endpoint if endpoint.multipart)


def _form_request(
    deployment: Deployment, endpoint: Endpoint, body: dict[str, Any]
) -> tuple[FormPayload, dict[str, str]]:
    """A file upload's data and headers: the form as the client sent it (``protocol/forms.py``)."""
    headers = _headers(deployment)
    form = form_of(body)
    if form is None:  # read_form refuses a form without a file: only a caller other than the gateway
        raise UpstreamError(f"{endpoint.value}: the request has no file to forward", deployment=deployment.id)
    headers["Content-Type"] = form.content_type  # the client's, boundary included
    return FormPayload(form_pieces(form, body), form.content_type), headers


def _url(deployment: Deployment, endpoint: Endpoint) -> str:
    base = deployment.api_base
    if not base:
        raise UpstreamError(f"deployment {deployment.id} has no api_base", deployment=deployment.id)
    if deployment.provider == "azure" and endpoint is Endpoint.RESPONSES:  # no deployment in its path
        return f"{base}/openai/responses?api-version={deployment.api_version or AZURE_RESPONSES_VERSION}"
    if deployment.provider == "azure":
        version = deployment.api_version or "2024-10-21"
        return f"{base}/openai/deployments/{deployment.upstream_model}/{endpoint.value}?api-version={version}"
    return f"{base}/{endpoint.value}"


def _headers(deployment: Deployment) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    if deployment.api_key:
        if deployment.provider == "azure":
            headers["api-key"] = deployment.api_key
        else:
            headers["Authorization"] = f"Bearer {deployment.api_key}"
    if deployment.organization:
        headers["OpenAI-Organization"] = deployment.organization
    headers.update(deployment.extra_headers)
    return headers


class OpenAICompatProvider(PooledClient):
    async def send(
        self, deployment: Deployment, endpoint: Endpoint, body: dict[str, Any], *, timeout: float
    ) -> UpstreamResponse:
        payload: bytes | FormPayload
        if endpoint in FORMS:
            payload, request_headers = _form_request(deployment, endpoint, body)
        else:
            payload, request_headers = orjson.dumps(body), _headers(deployment)
        status, data, headers = await self._read(
            deployment,
            "POST",
            _url(deployment, endpoint),
            data=payload,
            headers=request_headers,
            timeout=timeout,
        )
        content_type = headers.get("Content-Type", "application/json")
        if endpoint in NOT_ONLY_JSON and "json" not in content_type:  # audio, or a transcript as text
            recorded = media_answer(data, content_type) if endpoint is Endpoint.AUDIO_SPEECH else None
            passed = passed_headers(headers, PASSED_HEADERS)
            return UpstreamResponse(status, data, content_type, passed, recorded=recorded)
        return json_answer(status, data, headers, deployment, PASSED_HEADERS)

    async def open_stream(
        self, deployment: Deployment, endpoint: Endpoint, body: dict[str, Any], *, timeout: float
    ) -> OpenStream:
        payload: bytes | FormPayload
        if endpoint in FORMS:
            payload, request_headers = _form_request(deployment, endpoint, body)
        else:
            payload, request_headers = orjson.dumps(body), _headers(deployment)
        return await self._open(
            deployment,
            _url(deployment, endpoint),
            data=payload,
            headers=request_headers,
            timeout=timeout,
            passed=PASSED_HEADERS,
        )

    async def forward(
        self,
        deployment: Deployment,
        method: str,
        path: str,
        *,
        query: str = "",
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> UpstreamResponse:
        """``method`` on a resource the deployment keeps (``GET responses/{id}``, ``DELETE ...``), its
        answer as it came: how a stored response is read back there (``apis/responses_service.py``)."""
        if not deployment.api_base:
            raise UpstreamError(f"deployment {deployment.id} has no api_base", deployment=deployment.id)
        if deployment.provider == "azure":
            version = deployment.api_version or AZURE_RESPONSES_VERSION
            url = f"{deployment.api_base}/openai/{path}?api-version={version}" + (f"&{query}" * bool(query))
        else:
            url = f"{deployment.api_base}/{path}" + (f"?{query}" if query else "")
        status, data, headers = await self._read(
            deployment, method, url, headers=_headers(deployment), timeout=timeout
        )
        passed = passed_headers(headers, PASSED_HEADERS)
        return UpstreamResponse(status, data, headers.get("Content-Type", "application/json"), passed)


def _build(config: GatewayConfig) -> OpenAICompatProvider:
    return OpenAICompatProvider(pool_size=config.llmgate.upstream_pool_size)


#: every provider whose API is OpenAI's (``config/provider_kinds.py``), forwarded as bytes
KIND = ProviderKind("openai_compat", OPENAI_COMPATIBLE_PROVIDERS.__contains__, _build)
