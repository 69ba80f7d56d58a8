"""What the gateway checks in an Anthropic Messages API body (``/v1/messages``, ``.../count_tokens``).

As for OpenAI's bodies (``requests.py``), only what routing, limits and records need, plus the
rules every deployment is held to whatever it would accept: ``messages`` a non-empty array of
objects with a ``role``, and, for ``messages`` itself, ``max_tokens`` a whole number of at least 1
(Anthropic requires it; a translated deployment is sent it as the chat ``max_tokens``). The user a
call is recorded under is ``metadata.user_id``, Anthropic's spelling of OpenAI's ``user``. The
upstream judges everything else.
"""

from __future__ import annotations

from typing import Any

from llmgate.errors import InvalidRequest

__all__ = ["ANTHROPIC_MESSAGES", "check_messages", "messages_user"]

#: the endpoints whose bodies are Anthropic's Messages API requests
ANTHROPIC_MESSAGES = frozenset({"messages", "messages/count_tokens"})


def check_messages(endpoint: str, body: dict[str, Any], messages: Any) -> None:
    """``InvalidRequest`` (400) for a Messages body the gateway cannot route or bound."""
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("messages: must be a non-empty array of message objects.", param="messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise InvalidRequest(f"messages.{i}: must be an object with a 'role'.", param=f"messages.{i}")
    if endpoint != "messages":
        return
    max_tokens = body.get("max_tokens")
    if max_tokens is None:
        raise InvalidRequest(
            "max_tokens: Field required", param="max_tokens", code="missing_required_parameter"
        )
    if type(max_tokens) is not int or max_tokens < 1:
        raise InvalidRequest("max_tokens: must be an integer of at least 1.", param="max_tokens")


def messages_user(body: dict[str, Any]) -> str | None:
    """``metadata.user_id``, when it is a string (the call's user in the record)."""
    metadata = body.get("metadata")
    user = metadata.get("user_id") if isinstance(metadata, dict) else None
    return user if isinstance(user, str) else None
