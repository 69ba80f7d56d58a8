"""The provider interface: how the gateway calls one deployment.

Every provider takes an OpenAI-shaped request (the client's body with ``model`` already set
to the upstream's name) and gives back OpenAI-shaped bytes, so the gateway hands the client
what came without re-serialising it. Failures are raised as ``llmgate.errors.ProviderError``
subclasses; a provider never lets its library's exceptions escape.

A stream is opened first (``open_stream``): errors before the first byte raise there, so the
router can still fall back; after that the stream yields raw SSE bytes as they arrive and
raises ``StreamInterrupted`` if it breaks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from llmgate.config.deployment import Deployment
from llmgate.protocol.endpoints import Endpoint

if TYPE_CHECKING:
    from llmgate.config.schema import GatewayConfig


@dataclass(slots=True)
class UpstreamResponse:
    """A complete (non-streaming) answer: OpenAI-shaped JSON bytes."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    #: what the record keeps instead of ``body`` when that is not JSON text (an audio answer: its
    #: size and type, ``media_answer``), so the record never holds the audio
    recorded: bytes | None = None


def media_answer(body: bytes, content_type: str) -> bytes:
    """The JSON a record keeps for a binary answer (``UpstreamResponse.recorded``)."""
    return orjson.dumps({"object": "binary", "size": len(body), "content_type": content_type})


class UpstreamStream(Protocol):
    """An opened SSE stream. Iterating yields raw bytes (``data: {...}\\n\\n`` framing, possibly
    split anywhere); ``aclose`` releases the connection and is safe to call twice."""

    status: int
    content_type: str
    headers: dict[str, str]

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...


class Provider(Protocol):
    async def send(
        self, deployment: Deployment, endpoint: Endpoint, body: dict[str, Any], *, timeout: float
    ) -> UpstreamResponse: ...

    async def open_stream(
        self, deployment: Deployment, endpoint: Endpoint, body: dict[str, Any], *, timeout: float
    ) -> UpstreamStream: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class ProviderKind:
    """How a provider module declares itself (its ``KIND``); ``registry.py`` asks each in turn.

    ``serves`` answers for the provider prefix of ``litellm_params.model`` (``openai`` in
    ``openai/gpt-4o-mini``); ``build`` makes the one instance an app uses for every deployment it
    serves; ``warm``, when given, is started in the background at start-up (off the first request).
    """

    name: str
    serves: Callable[[str], bool]
    build: Callable[[GatewayConfig], Provider]
    warm: Callable[[], Coroutine[Any, Any, object]] | None = None
