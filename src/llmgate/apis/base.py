"""The adapter seam: how a request in the client's API reaches a deployment that speaks another.

A client may call the Responses API, Anthropic's Messages API or OpenAI's chat completions; a
deployment may speak any of them (or only chat completions, as most OpenAI-compatible servers,
the mock provider and litellm's providers do). When the two agree the gateway sends the client's
body as it is, and an ``ApiAdapter`` never runs: chat completions to an OpenAI-compatible server
pay nothing for this seam. When they differ, the adapter the registry (``registry.py``) picks
translates the request, calls the provider in the API it speaks, and translates the answer, or
each streamed event, back into the client's API, so the gateway records and the client receives
what the client's API promises.

An adapter is called once per attempt, inside the retry/fallback loop: a fallback to a deployment
of another API simply gets another adapter. It raises the same ``ProviderError`` kinds a provider
does, so retries, cooldowns and circuits see no difference.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any, Protocol

import orjson

from llmgate.config.deployment import Deployment
from llmgate.errors import UpstreamError
from llmgate.protocol.endpoints import Endpoint
from llmgate.providers.base import Provider, UpstreamResponse, UpstreamStream

__all__ = ["CURRENT_RECORD", "ApiAdapter", "Keeper", "chat_answer"]


class Keeper(Protocol):
    """The record of the request an adapter serves (the gateway's ``CallRecord``): who called, and
    where the adapter may leave what the store keeps with it."""

    stored_response: dict[str, Any] | None
    key_id: str | None  # the caller, as the gateway authenticated it
    auth_identity: str | None


#: The record of the request being served, set by the gateway in the request's task. An adapter
#: that keeps something in the store (a Responses API answer) leaves its row there, so the
#: record's writer stores it with the record: no store write ever runs in the gateway process.
CURRENT_RECORD: ContextVar[Keeper | None] = ContextVar("llmgate_current_record", default=None)


class ApiAdapter(Protocol):
    """One (client API, deployment API) pair. ``body`` is the client's body with ``model`` set to
    the deployment's upstream model; ``headers`` are the client's request headers (lower-case
    names), for the few an API forwards (``anthropic-version``, ``anthropic-beta``)."""

    async def send(
        self,
        provider: Provider,
        deployment: Deployment,
        body: dict[str, Any],
        headers: Mapping[str, str],
        *,
        timeout: float,
    ) -> UpstreamResponse:
        """The complete answer, as the client's API shapes it."""
        ...

    async def open_stream(
        self,
        provider: Provider,
        deployment: Deployment,
        body: dict[str, Any],
        headers: Mapping[str, str],
        *,
        timeout: float,
    ) -> UpstreamStream:
        """The stream, each event as the client's API shapes it (errors before the first byte
        raise here, so the loop can still retry or fall back)."""
        ...


async def chat_answer(
    provider: Provider, deployment: Deployment, chat: dict[str, Any], *, timeout: float
) -> tuple[UpstreamResponse, dict[str, Any]]:
    """A translating adapter's call: ``chat`` to the deployment's chat completions, and the answer
    parsed (an answer that is not a JSON object is the upstream's error, retried like any)."""
    answer = await provider.send(deployment, Endpoint.CHAT, chat, timeout=timeout)
    try:
        data = orjson.loads(answer.body)
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        raise UpstreamError(
            f"upstream {deployment.id} answered with a body that is not a JSON object",
            deployment=deployment.id,
        )
    return answer, data
