"""An opened litellm stream, handed to the client as OpenAI's server-sent events.

``LiteLLMStream`` frames each chunk litellm yields (converted by ``litellm_wire``) as a ``data:``
line as the consumer reads it, ends with ``data: [DONE]``, turns an error after the first chunk
into ``StreamInterrupted``, and closes litellm's stream and the HTTP response under it however the
iteration ends (``close_stream``). It does not import litellm: the adapter, which opened the stream,
hands it the loaded module for translating errors.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import orjson

from llmgate.config.deployment import Deployment
from llmgate.errors import StreamInterrupted
from llmgate.providers.litellm_errors import translate_error

__all__ = ["DONE", "LiteLLMStream", "close_stream", "frame"]

log = logging.getLogger("llmgate.providers.litellm_adapter")  # the adapter's: one logger for litellm

DONE = b"data: [DONE]\n\n"


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
        litellm: Any,
    ) -> None:
        self.headers: dict[str, str] = {}
        self._source = source
        self._chunks = chunks
        self._first = first
        self._convert = convert
        self._deployment = deployment
        self._litellm = litellm  # the loaded module, for translate_error
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
                    data = frame(await anext(self._chunks), self._convert)
                except StopAsyncIteration:
                    break
                except Exception as exc:
                    cause = translate_error(exc, self._deployment, self._litellm)
                    raise StreamInterrupted(
                        f"stream broke after it had started: {cause.message}", deployment=self._deployment.id
                    ) from exc
                yield data
            yield DONE
        finally:
            await self._close_source()

    async def _close_source(self) -> None:
        if not self._source_closed:
            self._source_closed = True
            await close_stream(self._source)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        iterator = self._iterator
        close = getattr(iterator, "aclose", None)
        if close is not None and not getattr(iterator, "ag_running", False):
            await close()
        await self._close_source()


def frame(chunk: Any, convert: Callable[[Any], dict[str, Any]]) -> bytes:
    return b"data: " + orjson.dumps(convert(chunk)) + b"\n\n"


async def close_stream(source: Any) -> None:
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
