"""Anthropic's Messages API (``/v1/messages``, ``/v1/messages/count_tokens``): which adapter a
deployment gets.

Every deployment needs one for these endpoints, since no provider speaks them: an ``anthropic/``
deployment gets ``NativeMessages``, which posts the client's body to Anthropic as it came over
``providers/anthropic_native.py`` (system blocks, ``cache_control``, ``thinking``, the client's
``anthropic-version`` and ``anthropic-beta``) and hands back Anthropic's bytes or events; every
other deployment gets the translation to chat completions (``messages_translated.py``).
``choosers`` gives the server (``server/builders.py``) one chooser per endpoint to register.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from llmgate.apis.base import ApiAdapter
from llmgate.apis.messages_translated import CountTokens, TokenCounter, TranslatedMessages
from llmgate.config.deployment import Deployment
from llmgate.protocol.endpoints import Endpoint
from llmgate.providers.anthropic_native import AnthropicNative
from llmgate.providers.base import Provider, UpstreamResponse
from llmgate.providers.pooled_http import OpenStream

__all__ = ["NATIVE_PROVIDERS", "NativeMessages", "choosers"]

#: provider prefixes whose deployments speak the Messages API themselves
NATIVE_PROVIDERS = frozenset({"anthropic"})


class NativeMessages:
    """The ``ApiAdapter`` of (Messages API client, Anthropic deployment): no translation at all.
    ``path`` is the endpoint's (``messages`` or ``messages/count_tokens``)."""

    def __init__(self, sender: AnthropicNative, path: str) -> None:
        self._sender = sender
        self._path = path

    async def send(
        self,
        provider: Provider,
        deployment: Deployment,
        body: dict[str, Any],
        headers: Mapping[str, str],
        *,
        timeout: float,
    ) -> UpstreamResponse:
        return await self._sender.send(deployment, self._path, body, headers, timeout=timeout)

    async def open_stream(
        self,
        provider: Provider,
        deployment: Deployment,
        body: dict[str, Any],
        headers: Mapping[str, str],
        *,
        timeout: float,
    ) -> OpenStream:
        return await self._sender.open_stream(deployment, body, headers, timeout=timeout)


def choosers(
    sender: AnthropicNative, counter: TokenCounter
) -> dict[Endpoint, Callable[[Deployment], ApiAdapter]]:
    """For each Messages API endpoint: the adapter a deployment gets."""
    native, native_count = NativeMessages(sender, "messages"), NativeMessages(sender, "messages/count_tokens")
    translated, counting = TranslatedMessages(counter), CountTokens(counter)

    def messages(deployment: Deployment) -> ApiAdapter:
        return native if deployment.provider in NATIVE_PROVIDERS else translated

    def count_tokens(deployment: Deployment) -> ApiAdapter:
        return native_count if deployment.provider in NATIVE_PROVIDERS else counting

    return {Endpoint.MESSAGES: messages, Endpoint.MESSAGES_COUNT_TOKENS: count_tokens}
