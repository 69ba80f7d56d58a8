"""``/v1/embeddings`` as the SDKs call it: base64 vectors when asked, whatever the provider answers.

Both official OpenAI SDKs ask for ``encoding_format: "base64"`` by default. OpenAI answers that
with base64 strings (little-endian float32); most other providers answer floats, and some refuse
the parameter outright (Gemini through litellm: a 400). So every embeddings deployment gets this
adapter, which branches on the request:

- floats asked (``encoding_format`` absent, ``null`` or ``"float"``): the provider is called with
  the body as it is (one extra call frame; a provider that lacks the parameter does not see it);
- base64 asked: a provider that has the parameter (OpenAI-compatible upstreams, litellm's openai
  and azure) is sent it, one that lacks it (litellm's other providers, the mock) is not; either
  way an answer that still holds floats is encoded here (``protocol/embedding_format.py``), and
  base64 strings the upstream sent are passed on as they came. The answer keeps its ``usage``, so
  the record's tokens are the same as for floats.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llmgate.apis.base import ApiAdapter
from llmgate.config.deployment import Deployment
from llmgate.protocol.embedding_format import asks_base64, to_base64
from llmgate.protocol.endpoints import Endpoint
from llmgate.providers.base import Provider, UpstreamResponse, UpstreamStream
from llmgate.providers.registry import CATCH_ALL, kind_name

__all__ = ["EmbeddingsAdapter", "choose"]

#: litellm providers whose embeddings API takes ``encoding_format`` (OpenAI's own)
_LITELLM_TAKES_IT = frozenset({"openai", "azure"})
#: provider kinds that forward the client's body to an API that takes ``encoding_format``
_FORWARDING_KINDS = frozenset({"openai_compat"})


class EmbeddingsAdapter:
    """The embeddings of one kind of deployment: ``forwards`` says whether its API takes
    ``encoding_format`` (when it does not, the parameter is dropped before the call)."""

    def __init__(self, *, forwards: bool) -> None:
        self.forwards = forwards

    async def send(
        self,
        provider: Provider,
        deployment: Deployment,
        body: dict[str, Any],
        headers: Mapping[str, str],
        *,
        timeout: float,
    ) -> UpstreamResponse:
        if not asks_base64(body):  # floats: the body as it is (minus what the provider lacks)
            if not self.forwards:
                body.pop("encoding_format", None)
            return await provider.send(deployment, Endpoint.EMBEDDINGS, body, timeout=timeout)
        if not self.forwards:
            del body["encoding_format"]
        response = await provider.send(deployment, Endpoint.EMBEDDINGS, body, timeout=timeout)
        if 200 <= response.status < 300:
            response.body = to_base64(response.body)
        return response

    async def open_stream(
        self,
        provider: Provider,
        deployment: Deployment,
        body: dict[str, Any],
        headers: Mapping[str, str],
        *,
        timeout: float,
    ) -> UpstreamStream:
        # embeddings are never streamed (protocol/requests.py refuses it first); the provider's answer
        return await provider.open_stream(deployment, Endpoint.EMBEDDINGS, body, timeout=timeout)


_FORWARDING = EmbeddingsAdapter(forwards=True)
_DROPPING = EmbeddingsAdapter(forwards=False)


def choose(deployment: Deployment) -> ApiAdapter:
    """The embeddings adapter of ``deployment``: forwarding ``encoding_format`` or dropping it."""
    kind = kind_name(deployment.provider)
    if kind in _FORWARDING_KINDS or (kind == CATCH_ALL and deployment.provider in _LITELLM_TAKES_IT):
        return _FORWARDING
    return _DROPPING
