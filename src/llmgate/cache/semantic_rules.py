"""Which requests the semantic cache may answer, and what of them must match exactly.

A semantic hit serves one user's answer to another user's question in other words, so it is
only allowed where that is safe, and only the last user turn may differ:

- ``chat/completions``: the last message is the user's and carries text only (a string, or
  text parts; an image, audio or file part makes it ineligible). The rest of the request is the
  body with that message's ``content`` taken out: the system prompt, every earlier turn, the last
  message's other fields and every parameter must then be equal for a hit (the service files the
  rest's digest into the semantic space).
- ``completions``: one prompt string (or a list of exactly one); the rest is the body without
  ``prompt``. ``echo`` (the answer repeats the prompt) is never reused.
- Never: another endpoint; ``n`` above 1 (several sampled answers); a temperature above
  ``max_temperature`` (a request without one counts as 1.0, the APIs' default); tools or legacy
  ``functions`` unless ``allow_tools`` is on or every tool is named in ``safe_tools`` (a reused
  answer would skip or repeat a tool's side effects); an empty question.

``semantic_request`` is pure and cheap (no embedding, no I/O): the service asks it before any
semantic lookup, on the event loop. The rest it returns shares unchanged values with ``body``:
read it, never change it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from llmgate.protocol.message_text import TEXT_PART_TYPES, message_text

__all__ = ["UNSET_TEMPERATURE", "SemanticRules", "semantic_request", "tool_names"]

#: what a request without ``temperature`` counts as (OpenAI's default)
UNSET_TEMPERATURE = 1.0


class SemanticRules(Protocol):
    """What ``semantic_request`` reads of ``llmgate.cache.semantic`` (``SemanticCacheSettings``)."""

    @property
    def max_temperature(self) -> float: ...

    @property
    def allow_tools(self) -> bool: ...

    @property
    def safe_tools(self) -> list[str]: ...


def semantic_request(
    endpoint: str, body: Mapping[str, Any], settings: SemanticRules
) -> tuple[dict[str, Any], str] | None:
    """(the rest of the request, the last user turn's text), or None when a reuse is not safe."""
    if not _parameters_allow(body, settings):
        return None
    if endpoint == "chat/completions":
        return _chat(body)
    if endpoint == "completions":
        return _completion(body)
    return None


def _parameters_allow(body: Mapping[str, Any], settings: SemanticRules) -> bool:
    n = body.get("n")
    if n is not None and (isinstance(n, bool) or n != 1):
        return False
    temperature = body.get("temperature")
    if temperature is None:
        temperature = UNSET_TEMPERATURE
    if isinstance(temperature, bool) or not isinstance(temperature, int | float):
        return False
    if temperature > settings.max_temperature:
        return False
    if body.get("tools") or body.get("functions"):
        if settings.allow_tools:
            return True
        names = tool_names(body)
        return names is not None and set(names) <= set(settings.safe_tools)
    return True


def tool_names(body: Mapping[str, Any]) -> list[str] | None:
    """The names of a request's ``tools`` and legacy ``functions``; None when one has no name
    (a built-in tool, a malformed entry), which no ``safe_tools`` list can vouch for."""
    names: list[str] = []
    for field, nested in (("tools", True), ("functions", False)):
        entries = body.get(field) or []
        if not isinstance(entries, list):
            return None
        for entry in entries:
            if not isinstance(entry, Mapping):
                return None
            spec = entry.get("function", entry) if nested else entry
            name = spec.get("name") if isinstance(spec, Mapping) else None
            if not isinstance(name, str) or not name:
                return None
            names.append(name)
    return names


def _chat(body: Mapping[str, Any]) -> tuple[dict[str, Any], str] | None:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return None
    last = messages[-1]
    if not isinstance(last, Mapping) or last.get("role") != "user":
        return None
    content = last.get("content")
    if isinstance(content, list):
        if not all(_is_text_part(part) for part in content):
            return None
    elif not isinstance(content, str):
        return None
    text = message_text(content)
    if not text.strip():
        return None
    rest = dict(body)
    rest["messages"] = [*messages[:-1], {k: v for k, v in last.items() if k != "content"}]
    return rest, text


def _is_text_part(part: Any) -> bool:
    if isinstance(part, str):
        return True
    return (
        isinstance(part, Mapping)
        and part.get("type", "text") in TEXT_PART_TYPES
        and isinstance(part.get("text"), str)
    )


def _completion(body: Mapping[str, Any]) -> tuple[dict[str, Any], str] | None:
    if body.get("echo"):
        return None
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if not isinstance(prompt, str) or not prompt.strip():
        return None
    rest = {k: v for k, v in body.items() if k != "prompt"}
    return rest, prompt
