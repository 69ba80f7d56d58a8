"""The OpenAI API endpoints the gateway serves: one name for each, from the route to the provider.

``Endpoint`` is part of the wire format (the path after ``/v1/``), so it lives with the other
OpenAI types rather than with the providers that call it: the routes map paths to it, the gateway
and the providers branch on it, telemetry names the GenAI operation from it.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Endpoint"]


class Endpoint(StrEnum):
    CHAT = "chat/completions"
    COMPLETIONS = "completions"
    EMBEDDINGS = "embeddings"

    @property
    def operation(self) -> str:
        """The OpenTelemetry GenAI operation name."""
        return {"chat/completions": "chat", "completions": "text_completion", "embeddings": "embeddings"}[
            self.value
        ]
