"""A recorded call's prompt as chat messages, whatever API it came through.

The recorder stores the request body as the client sent it (``request_json``, credentials
redacted), so the prompt is where each API puts it:

- ``chat/completions``: ``messages``, kept as they are (content strings and parts);
- ``completions``: ``prompt``, a string (or the first string of a list) as one user message;
- ``responses``: ``instructions`` as a system message, then ``input``: a string as a user
  message, or its message items (``{"role", "content"}``, with or without ``"type": "message"``)
  with their text (function calls and their outputs carry no words and are left out);
- ``messages`` (Anthropic): ``system`` (a string or text blocks) as a system message, then each
  message with the text of its content (text blocks; tool blocks are left out).

Any other endpoint (embeddings, images, audio, ...) has no chat prompt: ``[]``. So has a call
whose deployment does not log prompts (the body was stored without them). ``user_text`` is the
words of the user messages, the latest turn first: what asks the question, for near-duplicate
detection (the embedder reads the start of a text, so the current question must come first).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from llmgate.protocol.message_text import message_text

__all__ = ["PROMPT_ENDPOINTS", "prompt_text", "request_messages", "user_text"]

#: the endpoints whose requests carry a chat prompt
PROMPT_ENDPOINTS = ("chat/completions", "completions", "responses", "messages")


def request_messages(endpoint: str, request: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The chat messages of a recorded request (see the module doc); ``[]`` when it has none."""
    if endpoint == "chat/completions":
        messages = request.get("messages")
        return [dict(m) for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []
    if endpoint == "completions":
        prompt = request.get("prompt")
        if isinstance(prompt, list) and prompt and isinstance(prompt[0], str):
            prompt = prompt[0]
        return [{"role": "user", "content": prompt}] if isinstance(prompt, str) and prompt else []
    if endpoint == "responses":
        return _system(request.get("instructions")) + _items(request.get("input"))
    if endpoint == "messages":
        return _system(request.get("system")) + _items(request.get("messages"))
    return []


def _system(value: Any) -> list[dict[str, Any]]:
    text = message_text(value)
    return [{"role": "system", "content": text}] if text else []


def _items(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):
        return [{"role": "user", "content": value}] if value else []
    if not isinstance(value, list):
        return []
    out: list[dict[str, Any]] = []
    for item in value:
        if not isinstance(item, Mapping) or item.get("type", "message") != "message":
            continue
        role = item.get("role")
        text = message_text(item.get("content"))
        if isinstance(role, str) and text:
            out.append({"role": role, "content": text})
    return out


def prompt_text(messages: Sequence[Mapping[str, Any]]) -> str:
    """The words of every message, in order, one message a paragraph."""
    return "\n\n".join(t for t in (message_text(m.get("content")) for m in messages) if t)


def user_text(messages: Sequence[Mapping[str, Any]]) -> str:
    """The words of the user messages, the latest first (see the module doc)."""
    texts = [message_text(m.get("content")) for m in messages if m.get("role") == "user"]
    return "\n\n".join(t for t in reversed(texts) if t)
