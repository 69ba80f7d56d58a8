"""The API endpoints the gateway serves: one name for each, from the route to the provider.

``Endpoint`` is part of the wire format (the path after ``/v1/``, which is also what
``llmgate logs --endpoint`` takes), so it lives with the other wire types rather than with the
providers that call it: the routes map paths to it, the gateway and the providers branch on it,
telemetry names the GenAI operation from it.

Most are OpenAI's; ``messages`` and ``messages/count_tokens`` are Anthropic's Messages API and
``rerank`` is Cohere's, as LiteLLM's proxy serves them.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Endpoint"]


class Endpoint(StrEnum):
    CHAT = "chat/completions"
    COMPLETIONS = "completions"
    EMBEDDINGS = "embeddings"
    RESPONSES = "responses"
    MESSAGES = "messages"
    MESSAGES_COUNT_TOKENS = "messages/count_tokens"
    IMAGES_GENERATIONS = "images/generations"
    IMAGES_EDITS = "images/edits"
    AUDIO_SPEECH = "audio/speech"
    AUDIO_TRANSCRIPTIONS = "audio/transcriptions"
    AUDIO_TRANSLATIONS = "audio/translations"
    MODERATIONS = "moderations"
    RERANK = "rerank"

    @property
    def operation(self) -> str:
        """The OpenTelemetry GenAI operation name (``gen_ai.operation.name``)."""
        return _OPERATIONS[self]

    @property
    def multipart(self) -> bool:
        """Whether the request body is a multipart form (a file upload), not JSON."""
        return self in _MULTIPART


_OPERATIONS = {
    Endpoint.CHAT: "chat",
    Endpoint.COMPLETIONS: "text_completion",
    Endpoint.EMBEDDINGS: "embeddings",
    Endpoint.RESPONSES: "chat",
    Endpoint.MESSAGES: "chat",
    Endpoint.MESSAGES_COUNT_TOKENS: "count_tokens",
    Endpoint.IMAGES_GENERATIONS: "image_generation",
    Endpoint.IMAGES_EDITS: "image_edit",
    Endpoint.AUDIO_SPEECH: "speech",
    Endpoint.AUDIO_TRANSCRIPTIONS: "transcription",
    Endpoint.AUDIO_TRANSLATIONS: "translation",
    Endpoint.MODERATIONS: "moderation",
    Endpoint.RERANK: "rerank",
}
_MULTIPART = frozenset({Endpoint.IMAGES_EDITS, Endpoint.AUDIO_TRANSCRIPTIONS, Endpoint.AUDIO_TRANSLATIONS})
