"""Every provider whose API is not OpenAI's (anthropic/, gemini/, bedrock/, cohere/, ...), through litellm.

This is the only module of llmgate that imports litellm, and it does so lazily: the import
takes seconds, so it happens on first use (in a worker thread, not on the event loop) or when
the lifespan calls ``load_litellm()``. Before importing, ``LITELLM_LOCAL_MODEL_COST_MAP`` is
set so litellm never fetches its price map from the internet; after, its telemetry, callbacks
and debug output are switched off, because llmgate records calls itself.

What goes in: the client's OpenAI body minus the keys litellm would read as its own
configuration (``api_base``, ``api_key``, ``metadata``, ``mock_response``, credentials, ...),
which only the deployment may set, plus the deployment's address, key and ``provider_kwargs``.
What comes out: OpenAI-shaped JSON bytes, built field by field from litellm's response objects
so nothing litellm adds beyond OpenAI's schema (``provider_specific_fields``, cost, private
attributes) reaches the client. litellm's exceptions become ``llmgate.errors`` with the
deployment's secrets scrubbed from every message (``litellm_errors.py``); responses are rebuilt in
``litellm_wire.py`` and streams framed and closed in ``litellm_stream.py`` (neither imports litellm).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from llmgate.config.deployment import Deployment
from llmgate.config.schema import GatewayConfig
from llmgate.errors import (
    ProviderError,
    UpstreamError,
    UpstreamRejected,
)
from llmgate.protocol import error_body
from llmgate.protocol.endpoints import Endpoint
from llmgate.providers import litellm_media
from llmgate.providers.base import ProviderKind, UpstreamResponse
from llmgate.providers.litellm_errors import translate_error
from llmgate.providers.litellm_stream import LiteLLMStream, close_stream, frame
from llmgate.providers.litellm_wire import chat_chunk, chat_completion, embedding, text_completion

log = logging.getLogger(__name__)


_state: dict[str, Any] = {}
_import_lock = threading.Lock()

#: Keys of the client's body never handed to litellm: the gateway's own (``metadata`` is
#: llmgate's, and litellm would read it as logging metadata and send ``metadata.user_id`` to
#: Anthropic), what the adapter sets itself, and what would let a client redirect the
#: deployment's credentials or change litellm's behaviour. litellm's own list of the kwargs it
#: owns is added at import (``_reserved_keys``).
_GATEWAY_KEYS = frozenset(
    {
        "model",
        "stream",
        "metadata",
        "litellm_metadata",
        "api_base",
        "base_url",
        "api_key",
        "api_version",
        "api_type",
        "organization",
        "extra_headers",
        "headers",
        "timeout",
        "request_timeout",
        "stream_timeout",
        "custom_llm_provider",
        "drop_params",
        "additional_drop_params",
        "allowed_openai_params",
        "num_retries",
        "max_retries",
        "fallbacks",
        "client",
        "callbacks",
        "success_callback",
        "failure_callback",
        "caching",
        "cache",
        "ssl_verify",
        "deployment_id",
        "model_list",
        "tags",
    }
)
_RESERVED_PREFIXES = (
    "_",
    "litellm_",
    "mock_",
    "aws_",
    "vertex_",
    "azure_",
    "watsonx_",
    "input_cost_",
    "output_cost_",
)


# --- importing litellm ----------------------------------------------------------------------


def load_litellm() -> Any:
    """Import and configure litellm once; return the module. Blocks for seconds the first time."""
    module = _state.get("litellm")
    if module is not None:
        return module
    with _import_lock:
        module = _state.get("litellm")
        if module is not None:
            return module
        os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
        started = time.perf_counter()
        # litellm (~1 s to import): only when a litellm-routed deployment is first called
        import litellm as imported

        _state["import_seconds"] = time.perf_counter() - started
        litellm: Any = imported
        litellm.telemetry = False
        litellm.suppress_debug_info = True
        litellm.set_verbose = False
        litellm.turn_off_message_logging = True
        # The router retries; litellm must not (0 passed per call is read as "unset" on some of
        # its OpenAI-SDK paths, which then fall back to this default).
        litellm.DEFAULT_MAX_RETRIES = 0
        for name in (
            "callbacks",
            "success_callback",
            "failure_callback",
            "input_callback",
            "service_callback",
            "_async_success_callback",
            "_async_failure_callback",
            "_async_input_callback",
        ):
            setattr(litellm, name, [])
        _state["reserved"] = _reserved_keys()
        _state["litellm"] = litellm
        log.info("litellm %s imported in %.2fs", getattr(litellm, "version", "?"), _state["import_seconds"])
        return litellm


async def aload_litellm() -> Any:
    """``load_litellm`` off the event loop, so the first call does not stall other requests."""
    module = _state.get("litellm")
    if module is not None:
        return module
    return await asyncio.to_thread(load_litellm)


def litellm_import_seconds() -> float | None:
    """How long ``import litellm`` took in this process, once it has happened."""
    value = _state.get("import_seconds")
    return float(value) if value is not None else None


def _reserved_keys() -> frozenset[str]:
    keys = set(_GATEWAY_KEYS)
    try:
        # litellm (~1 s to import): only when a litellm-routed deployment is first called
        from litellm.types.router import GenericLiteLLMParams
        from litellm.types.utils import all_litellm_params

        keys.update(all_litellm_params)
        keys.update(GenericLiteLLMParams.model_fields)
    except ImportError:  # pragma: no cover - a litellm without these lists: the fixed set still applies
        log.warning("litellm's list of its own parameters was not found; using llmgate's")
    keys.discard("user")
    return frozenset(keys)


# --- the request ----------------------------------------------------------------------------


def _is_reserved(key: str) -> bool:
    return key in _state["reserved"] or key.startswith(_RESERVED_PREFIXES)


class LiteLLMProvider:
    """The ``Provider`` for every deployment whose ``kind`` is ``litellm``."""

    def __init__(self, *, drop_params: bool = False) -> None:
        self._drop_params = drop_params

    def _kwargs(
        self,
        deployment: Deployment,
        endpoint: Endpoint,
        body: Mapping[str, Any],
        *,
        timeout: float,
        stream: bool,
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {k: v for k, v in body.items() if not _is_reserved(k)}
        if not stream:
            kwargs.pop("stream_options", None)
        for key, value in deployment.request_defaults.items():
            kwargs.setdefault(key, value)
        kwargs.update(drop_params=self._drop_params, num_retries=0, max_retries=0)
        kwargs.update(deployment.provider_kwargs)
        if endpoint is not Endpoint.EMBEDDINGS:
            # Only llmgate's chat tools: litellm would otherwise import its MCP gateway for any
            # request with tools (and needs the optional ``mcp`` package to do so).
            kwargs["_skip_mcp_handler"] = True
            if stream:
                kwargs["stream"] = True
        kwargs["model"] = deployment.litellm_model
        kwargs["timeout"] = timeout
        for name in ("api_base", "api_key", "api_version", "organization"):
            value = getattr(deployment, name)
            if value is not None:
                kwargs[name] = value
        if deployment.extra_headers:
            kwargs["extra_headers"] = dict(deployment.extra_headers)
        return kwargs

    async def _call(self, lm: Any, endpoint: Endpoint, kwargs: dict[str, Any]) -> Any:
        if endpoint is Endpoint.CHAT:
            return await lm.acompletion(**kwargs)
        if endpoint is Endpoint.COMPLETIONS:
            return await lm.atext_completion(**kwargs)
        return await lm.aembedding(**kwargs)

    async def send(
        self, deployment: Deployment, endpoint: Endpoint, body: dict[str, Any], *, timeout: float
    ) -> UpstreamResponse:
        lm = await aload_litellm()
        kwargs = self._kwargs(deployment, endpoint, body, timeout=timeout, stream=False)
        try:
            async with asyncio.timeout(timeout):
                if endpoint in litellm_media.ENDPOINTS:  # images, audio, moderation, rerank
                    return await litellm_media.call(lm, deployment, endpoint, kwargs)
                result = await self._call(lm, endpoint, kwargs)
        except ProviderError:
            raise
        except Exception as exc:
            raise translate_error(exc, deployment, load_litellm()) from exc
        convert = _CONVERTERS[endpoint]
        try:
            payload = orjson.dumps(convert(result))
        except (AttributeError, TypeError, ValueError, orjson.JSONEncodeError) as exc:
            raise UpstreamError(
                f"{deployment.provider} ({deployment.id}): unreadable response: {exc}",
                deployment=deployment.id,
            ) from exc
        return UpstreamResponse(status=200, body=payload)

    async def open_stream(
        self, deployment: Deployment, endpoint: Endpoint, body: dict[str, Any], *, timeout: float
    ) -> LiteLLMStream:
        if endpoint in litellm_media.ENDPOINTS:
            raise litellm_media.refuse_stream(deployment, endpoint)
        if endpoint is Endpoint.EMBEDDINGS:
            raise UpstreamRejected(
                "embeddings cannot be streamed",
                status=400,
                body=error_body("embeddings cannot be streamed", "invalid_request_error", param="stream"),
                deployment=deployment.id,
            )
        lm = await aload_litellm()
        kwargs = self._kwargs(deployment, endpoint, body, timeout=timeout, stream=True)
        convert = chat_chunk if endpoint is Endpoint.CHAT else _text_chunk
        source: Any = None
        try:
            async with asyncio.timeout(timeout):
                source = await self._call(lm, endpoint, kwargs)
                chunks = aiter(source)
                first = frame(await anext(chunks), convert)
        except StopAsyncIteration as exc:
            await close_stream(source)
            raise UpstreamError(
                f"{deployment.provider} ({deployment.id}): the stream ended before its first chunk",
                deployment=deployment.id,
            ) from exc
        except Exception as exc:
            await close_stream(source)
            raise translate_error(exc, deployment, load_litellm()) from exc
        return LiteLLMStream(source, chunks, first, convert, deployment, lm)

    async def aclose(self) -> None:
        """Close litellm's HTTP clients: its cached ones and its module-level one (which some
        providers, Anthropic streams among them, use and the cache does not always hold).
        litellm's handlers reopen themselves when used again, so this is safe to call at any
        time, and must be called before the event loop closes."""
        lm = _state.get("litellm")
        if lm is None:
            return
        try:
            await lm.close_litellm_async_clients()
            module_client = vars(lm).get("module_level_aclient")  # without creating it
            if module_client is not None:
                await module_client.close()
        except Exception as exc:  # shutting down: nothing more to do about it
            log.debug("closing litellm's clients failed: %r", exc)


def _text_chunk(obj: Any) -> dict[str, Any]:
    return text_completion(obj, chunk=True)


_CONVERTERS: dict[Endpoint, Callable[[Any], dict[str, Any]]] = {
    Endpoint.CHAT: chat_completion,
    Endpoint.COMPLETIONS: text_completion,
    Endpoint.EMBEDDINGS: embedding,
}


def _build(config: GatewayConfig) -> LiteLLMProvider:
    return LiteLLMProvider(drop_params=bool((config.litellm_settings.model_extra or {}).get("drop_params")))


def _serves(provider: str) -> bool:
    return True  # the catch-all: every provider no other kind serves (registry.py asks it last)


#: every other provider, through litellm; litellm itself loads in the background at start-up
KIND = ProviderKind("litellm", _serves, _build, warm=aload_litellm)
