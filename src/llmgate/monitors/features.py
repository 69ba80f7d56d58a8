"""What the monitor takes from one recorded request: the text to embed and the output features.

- ``prompt_text``: what the request is about. For chat, the last user message (the system
  prompt is the same for every request of an app and would hide the drift); for completions the
  prompt; for embeddings the (first) input. Content-part lists are joined by their text parts.
- ``output features`` (``OutputSample``): answer length, refusal, finish reason, tool call, error,
  latency and tokens, for the output-drift tests.

Pure functions over the stored JSON; no model, no store.
"""

from __future__ import annotations

import json
from typing import Any

from llmgate.monitors.output_drift import OutputSample
from llmgate.protocol.message_text import message_text
from llmgate.quality.embedding import MONITOR_USER
from llmgate.quality.text import is_refusal

__all__ = ["EXCERPT_CHARS", "MONITOR_USER", "output_sample", "prompt_text"]

#: Characters of a prompt kept with its sample, so reports can quote what a cluster is about.
EXCERPT_CHARS = 300
# MONITOR_USER (quality/embedding.py): the ``user`` the monitor's own embedding calls carry;
# such records are never sampled.


def prompt_text(route: str, request: dict[str, Any]) -> str | None:
    """The text of a request that drift is measured on, or None when it has none."""
    if route in ("chat/completions", "messages"):  # OpenAI's chat, Anthropic's Messages API
        messages = request.get("messages")
        if not isinstance(messages, list):
            return None
        for message in reversed(messages):
            if isinstance(message, dict) and message.get("role") == "user":
                text = message_text(message.get("content")).strip()
                if text:
                    return text
        return None
    field = "prompt" if route == "completions" else "input"
    value = request.get(field)
    if isinstance(value, list):
        value = next((item for item in value if isinstance(item, str) and item.strip()), None)
    return value.strip() if isinstance(value, str) and value.strip() else None


def output_sample(record: dict[str, Any]) -> OutputSample:
    """The output features of a stored record (``store.monitors.fetch_records`` columns)."""
    response = record.get("response_text")
    tool_calls = record.get("tool_calls_json")
    has_tool_call = False
    if tool_calls:
        try:
            has_tool_call = bool(json.loads(tool_calls))
        except ValueError:
            has_tool_call = True
    error = record.get("status") != "success"
    return OutputSample(
        response_chars=len(response) if isinstance(response, str) else None,
        refused=bool(response) and is_refusal(response),
        finish_reason=record.get("finish_reason"),
        tool_call=has_tool_call,
        error=error,
        latency_ms=record.get("latency_ms"),
        prompt_tokens=record.get("prompt_tokens"),
        completion_tokens=record.get("completion_tokens"),
    )
