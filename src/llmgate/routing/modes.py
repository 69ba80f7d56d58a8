"""Which endpoint an alias serves: an embedding model does not chat, a chat model does not embed.

A deployment's kind is its ``model_info.mode`` in the config (LiteLLM's key and names: ``chat``,
``completion``, ``embedding``, ``image_generation``, ``image_edit``, ``audio_speech``,
``audio_transcription``, ``moderation``, ``rerank``). An alias is refused on an endpoint, with a
400 in OpenAI's shape before any upstream is called, only when every one of its deployments
declares a mode that endpoint does not serve; an alias without a declared mode goes to its
upstream, which decides (the built-in mock provider answers every endpoint, so its aliases say what
they are in the config).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llmgate.config.deployment import Deployment
from llmgate.errors import InvalidRequest
from llmgate.protocol.endpoints import Endpoint

#: the modes each endpoint serves
SERVES = {
    "chat/completions": frozenset({"chat", "completion"}),
    "completions": frozenset({"chat", "completion"}),
    "embeddings": frozenset({"embedding"}),
    "images/generations": frozenset({"image_generation"}),
    "images/edits": frozenset({"image_edit", "image_generation"}),
    "audio/speech": frozenset({"audio_speech"}),
    "audio/transcriptions": frozenset({"audio_transcription"}),
    "audio/translations": frozenset({"audio_transcription"}),
    "moderations": frozenset({"moderation"}),
    "rerank": frozenset({"rerank"}),
    "responses": frozenset({"chat", "completion"}),
    "messages": frozenset({"chat", "completion"}),
    "messages/count_tokens": frozenset({"chat", "completion"}),
}
#: where a model of each mode is used instead
_USE = {
    "chat": "/v1/chat/completions",
    "completion": "/v1/completions",
    "embedding": "/v1/embeddings",
    "image_generation": "/v1/images/generations",
    "image_edit": "/v1/images/edits",
    "audio_speech": "/v1/audio/speech",
    "audio_transcription": "/v1/audio/transcriptions",
    "moderation": "/v1/moderations",
    "rerank": "/v1/rerank",
}


def _refuses(endpoint: str, modes: set[str | None]) -> bool:
    """The one rule: an alias whose deployments have ``modes`` is refused on ``endpoint`` only when
    every deployment declares a mode and none of them is one the endpoint serves."""
    served = SERVES.get(endpoint)
    return served is not None and bool(modes) and None not in modes and modes.isdisjoint(served)


def served_endpoints(deployments: Sequence[Deployment]) -> dict[str, Any]:
    """What ``/v1/models`` says an alias serves: ``{"endpoints": [...], "mode": ...}``.

    ``endpoints`` are the paths after ``/v1/`` that ``check_endpoint`` lets through to the alias
    (for an alias with no declared mode, every endpoint: its upstream decides); ``mode`` is the
    ``model_info.mode`` its deployments share, ``None`` when undeclared or mixed.
    """
    modes = {deployment.mode for deployment in deployments}
    endpoints = [endpoint.value for endpoint in Endpoint if not _refuses(endpoint.value, modes)]
    return {"endpoints": endpoints, "mode": next(iter(modes)) if len(modes) == 1 else None}


def check_endpoint(endpoint: str, model: str, deployments: Sequence[Deployment]) -> None:
    """``InvalidRequest`` (400, ``param: model``) when no deployment of ``model`` serves ``endpoint``."""
    modes = {deployment.mode for deployment in deployments}
    if not _refuses(endpoint, modes):
        return
    mode = sorted(m for m in modes if m is not None)[0]
    raise InvalidRequest(
        f"The model '{model}' is {'an' if mode[0] in 'aeiou' else 'a'} {mode} model and is not supported "
        f"on /v1/{endpoint}: use it with {_USE.get(mode, 'its own endpoint')}.",
        param="model",
        code="model_not_supported",
    )
