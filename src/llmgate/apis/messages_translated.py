"""Anthropic's Messages API to a deployment that speaks only chat completions.

``TranslatedMessages`` serves ``/v1/messages`` from any deployment that is not Anthropic's own
(OpenAI-compatible servers, the mock provider, the providers litellm serves): the request is
translated (``messages_convert.to_chat``), sent as chat completions through the deployment's
provider, and the answer (``to_message``) or each streamed chunk (``messages_stream``) translated
back, so the client, the record and the price all see a Messages answer. Provider errors pass
through as they are, so retries and fallbacks work as for chat.

``CountTokens`` answers ``/v1/messages/count_tokens`` for those deployments without calling them:
the prompt of the translated chat request, counted as the recorder counts chat prompts
(``telemetry/tokens.py``, injected as a ``TokenCounter`` so this package stays beside telemetry).
When a chat answer carries no usage, the same counter estimates it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from llmgate.apis.base import chat_answer
from llmgate.apis.messages_convert import to_chat, to_message
from llmgate.apis.messages_stream import MessagesFromChat
from llmgate.config.deployment import Deployment
from llmgate.errors import InvalidRequest
from llmgate.protocol.endpoints import Endpoint
from llmgate.providers.base import Provider, UpstreamResponse

__all__ = ["CountTokens", "TokenCounter", "TranslatedMessages"]

JSON = "application/json"


@dataclass(frozen=True, slots=True)
class TokenCounter:
    """Local token counts: ``prompt(model, chat_body)`` and ``text(model, text)``."""

    prompt: Callable[[str, dict[str, Any]], int]
    text: Callable[[str, str], int]


class TranslatedMessages:
    """The ``ApiAdapter`` of (Messages API client, chat completions deployment)."""

    def __init__(self, counter: TokenCounter) -> None:
        self._counter = counter

    async def send(
        self,
        provider: Provider,
        deployment: Deployment,
        body: dict[str, Any],
        headers: Mapping[str, str],
        *,
        timeout: float,
    ) -> UpstreamResponse:
        chat = to_chat(body)
        response, data = await chat_answer(provider, deployment, chat, timeout=timeout)
        message, had_usage = to_message(data, deployment.upstream_model)
        if not had_usage:
            said = "".join(str(block.get("text", "")) for block in message["content"])
            prompt, output = await asyncio.to_thread(self._estimate, deployment, chat, said)
            message["usage"] = {"input_tokens": prompt, "output_tokens": output}
        return UpstreamResponse(200, orjson.dumps(message), JSON, response.headers)

    async def open_stream(
        self,
        provider: Provider,
        deployment: Deployment,
        body: dict[str, Any],
        headers: Mapping[str, str],
        *,
        timeout: float,
    ) -> MessagesFromChat:
        chat = to_chat(body)
        stream = await provider.open_stream(deployment, Endpoint.CHAT, chat, timeout=timeout)
        return MessagesFromChat(
            stream, deployment.upstream_model, lambda said: self._estimate(deployment, chat, said)
        )

    def _estimate(self, deployment: Deployment, chat: dict[str, Any], said: str) -> tuple[int, int]:
        model = deployment.upstream_model
        return self._counter.prompt(model, chat), self._counter.text(model, said)


class CountTokens:
    """The ``ApiAdapter`` of ``/v1/messages/count_tokens`` for a chat completions deployment."""

    def __init__(self, counter: TokenCounter) -> None:
        self._counter = counter

    async def send(
        self,
        provider: Provider,
        deployment: Deployment,
        body: dict[str, Any],
        headers: Mapping[str, str],
        *,
        timeout: float,
    ) -> UpstreamResponse:
        chat = to_chat(body)
        # tiktoken is CPU work (and a file read the first time): off the event loop
        count = await asyncio.to_thread(self._counter.prompt, deployment.upstream_model, chat)
        return UpstreamResponse(200, orjson.dumps({"input_tokens": count}), JSON)

    async def open_stream(
        self,
        provider: Provider,
        deployment: Deployment,
        body: dict[str, Any],
        headers: Mapping[str, str],
        *,
        timeout: float,
    ) -> MessagesFromChat:
        raise InvalidRequest("Token counts cannot be streamed.", param="stream")  # check_body says so first
