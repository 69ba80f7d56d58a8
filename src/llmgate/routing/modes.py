"""Which endpoint an alias serves: an embedding model does not chat, a chat model does not embed.

A deployment's kind is its ``model_info.mode`` in the config (LiteLLM's key: ``chat``,
``completion`` or ``embedding``). An alias is refused on an endpoint, with a 400 in OpenAI's shape
before any upstream is called, only when every one of its deployments declares a mode that endpoint
does not serve; an alias without a declared mode goes to its upstream, which decides (the built-in
mock provider answers every endpoint, so its aliases say what they are in the config).
"""

from __future__ import annotations

from collections.abc import Sequence

from llmgate.config.deployment import Deployment
from llmgate.errors import InvalidRequest

#: the modes each endpoint serves
SERVES = {
    "chat/completions": frozenset({"chat", "completion"}),
    "completions": frozenset({"chat", "completion"}),
    "embeddings": frozenset({"embedding"}),
}
#: where a model of each mode is used instead
_USE = {"chat": "/v1/chat/completions", "completion": "/v1/completions", "embedding": "/v1/embeddings"}


def check_endpoint(endpoint: str, model: str, deployments: Sequence[Deployment]) -> None:
    """``InvalidRequest`` (400, ``param: model``) when no deployment of ``model`` serves ``endpoint``."""
    modes = {deployment.mode for deployment in deployments}
    served = SERVES.get(endpoint)
    if served is None or not modes or None in modes or not modes.isdisjoint(served):
        return
    mode = sorted(m for m in modes if m is not None)[0]
    raise InvalidRequest(
        f"The model '{model}' is {'an' if mode == 'embedding' else 'a'} {mode} model and is not supported "
        f"on /v1/{endpoint}: use it with {_USE.get(mode, 'its own endpoint')}.",
        param="model",
        code="model_not_supported",
    )
