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
deployment's secrets scrubbed from every message.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import httpx
import orjson

from llmgate.config.deployment import Deployment
from llmgate.errors import (
    StreamInterrupted,
    UpstreamError,
    UpstreamRejected,
)
from llmgate.protocol import error_body
from llmgate.providers.base import Endpoint, UpstreamResponse
from llmgate.providers.litellm_errors import translate_error
from llmgate.providers.litellm_wire import chat_chunk, chat_completion, embedding, text_completion

log = logging.getLogger(__name__)

DONE = b"data: [DONE]\n\n"

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


class LiteLLMStream:
    """An opened litellm stream: the first chunk already fetched and framed, the rest read and
    framed one by one as the consumer iterates (nothing is buffered)."""

    status: int = 200
    content_type: str = "text/event-stream"

    def __init__(
        self,
        source: Any,
        chunks: AsyncIterator[Any],
        first: bytes,
        convert: Callable[[Any], dict[str, Any]],
        deployment: Deployment,
    ) -> None:
        self.headers: dict[str, str] = {}
        self._source = source
        self._chunks = chunks
        self._first = first
        self._convert = convert
        self._deployment = deployment
        self._iterator: AsyncIterator[bytes] | None = None
        self._closed = False
        self._source_closed = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        if self._iterator is None:
            self._iterator = self._iterate()
        return self._iterator

    async def _iterate(self) -> AsyncIterator[bytes]:
        try:
            yield self._first
            while True:
                try:
                    frame = _frame(await anext(self._chunks), self._convert)
                except StopAsyncIteration:
                    break
                except Exception as exc:
                    cause = translate_error(exc, self._deployment, load_litellm())
                    raise StreamInterrupted(
                        f"stream broke after it had started: {cause.message}", deployment=self._deployment.id
                    ) from exc
                yield frame
            yield DONE
        finally:
            await self._close_source()

    async def _close_source(self) -> None:
        if not self._source_closed:
            self._source_closed = True
            await _close_stream(self._source)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        iterator = self._iterator
        close = getattr(iterator, "aclose", None)
        if close is not None and not getattr(iterator, "ag_running", False):
            await close()
        await self._close_source()


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
                result = await self._call(lm, endpoint, kwargs)
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
                first = _frame(await anext(chunks), convert)
        except StopAsyncIteration as exc:
            await _close_stream(source)
            raise UpstreamError(
                f"{deployment.provider} ({deployment.id}): the stream ended before its first chunk",
                deployment=deployment.id,
            ) from exc
        except Exception as exc:
            await _close_stream(source)
            raise translate_error(exc, deployment, load_litellm()) from exc
        return LiteLLMStream(source, chunks, first, convert, deployment)

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


def _frame(chunk: Any, convert: Callable[[Any], dict[str, Any]]) -> bytes:
    return b"data: " + orjson.dumps(convert(chunk)) + b"\n\n"


def _text_chunk(obj: Any) -> dict[str, Any]:
    return text_completion(obj, chunk=True)


_CONVERTERS: dict[Endpoint, Callable[[Any], dict[str, Any]]] = {
    Endpoint.CHAT: chat_completion,
    Endpoint.COMPLETIONS: text_completion,
    Endpoint.EMBEDDINGS: embedding,
}


async def _close_stream(source: Any) -> None:
    """Stop a litellm stream and the HTTP response under it. Best effort: the stream is over.

    ``CustomStreamWrapper.aclose`` only closes what has an ``aclose``, and the iterators of
    litellm's own HTTP providers (Anthropic, Gemini, ...) have none: they wrap
    ``httpx.Response.aiter_lines()``, whose response would stay open until garbage collection.
    So the wrappers are walked down (text completion wraps chat), the line iterators closed and
    the response they read from (the generator's ``self``) closed too.
    """
    layers: list[Any] = []
    node = source
    while node is not None and len(layers) < 4:
        layers.append(node)
        node = getattr(node, "completion_stream", None)
    iterators = [
        getattr(layer, name, None)
        for layer in layers
        for name in ("async_response_iterator", "streaming_response", "response_iterator")
    ]
    responses = [_response_of(iterator) for iterator in iterators]
    closers = [getattr(layer, "aclose", None) for layer in layers]
    closers += [iterator.aclose for iterator in iterators if inspect.isasyncgen(iterator)]
    closers += [response.aclose for response in responses if response is not None]
    for close in closers:
        if close is None:
            continue
        try:
            await close()
        except Exception as exc:
            log.debug("closing a litellm stream: %r", exc)


def _response_of(iterator: Any) -> httpx.Response | None:
    frame = getattr(iterator, "ag_frame", None)
    owner = frame.f_locals.get("self") if frame is not None else None
    return owner if isinstance(owner, httpx.Response) else None
