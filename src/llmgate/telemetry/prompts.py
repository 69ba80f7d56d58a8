"""A request's prompt as its record keeps it: the field that holds it, how many characters of
text it has, and the fields a record of a deployment that does not log prompts is kept without."""

from __future__ import annotations

from typing import Any

from llmgate.telemetry import media_usage, tokens

__all__ = ["PROMPT_KEYS", "prompt_chars", "prompt_of"]

#: the field of a request that holds its prompt (other endpoints: ``input``)
_PROMPT_FIELD = {
    "chat/completions": "messages",
    "completions": "prompt",
    "messages": "messages",
    "messages/count_tokens": "messages",
    **media_usage.PROMPT_FIELDS,
}

#: what a request without logged prompts is recorded without
PROMPT_KEYS = frozenset({"messages", "prompt", "input", "system", "query", "documents", "instructions"})


def prompt_of(endpoint: str, request: dict[str, Any]) -> Any:
    return request.get(_PROMPT_FIELD.get(endpoint, "input"))


def prompt_chars(prompt: Any) -> int:
    """Characters of prompt text: message contents, a prompt string, or inputs."""
    if isinstance(prompt, str):
        return len(prompt)
    if isinstance(prompt, list):
        total = 0
        for item in prompt:
            if isinstance(item, dict):
                content = item.get("content")
                total += len(content) if isinstance(content, str) else len(tokens.content_text(content))
            elif isinstance(item, str):
                total += len(item)
        return total
    return 0
