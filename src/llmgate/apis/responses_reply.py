"""A chat completion as a Responses API object: the answer a translated ``/v1/responses`` call gets.

``response_object`` is the envelope every Responses answer shares (id, status, the request's own
parameters echoed back, output, usage), used here for a complete answer and by
``responses_stream.py`` for the events of a streamed one. ``output_items`` turns the first choice
into output items: a ``reasoning`` item when the provider returned its reasoning text, a ``message``
item with its ``output_text`` (or ``refusal``) part, one ``function_call`` item per tool call.
``usage`` maps chat usage onto the Responses names (``input_tokens`` with
``input_tokens_details.cached_tokens``, ``output_tokens`` with
``output_tokens_details.reasoning_tokens``). A ``length`` finish makes the response
``incomplete`` (``max_output_tokens``), a ``content_filter`` one ``incomplete`` (``content_filter``).
"""

from __future__ import annotations

import os
import time
from typing import Any

__all__ = [
    "as_dict",
    "from_chat",
    "function_call_item",
    "message_item",
    "new_id",
    "output_items",
    "reasoning_item",
    "response_object",
    "status_of",
    "usage",
]

_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` if it is an object, else an empty one (an upstream's JSON may hold anything)."""
    return value if isinstance(value, dict) else {}


def new_id(prefix: str) -> str:
    """An id in OpenAI's style (``resp_``, ``msg_``, ``fc_``, ``rs_`` and 48 hex digits)."""
    return f"{prefix}_{os.urandom(24).hex()}"


def status_of(finish_reason: str | None) -> tuple[str, dict[str, str] | None]:
    """The response's ``status`` and ``incomplete_details`` for a chat ``finish_reason``."""
    reason = _INCOMPLETE.get(finish_reason or "")
    return ("incomplete", {"reason": reason}) if reason else ("completed", None)


def usage(chat_usage: Any) -> dict[str, Any] | None:
    """Chat usage under the Responses API's names (None when the upstream gave none)."""
    if not isinstance(chat_usage, dict):
        return None
    prompt = _count(chat_usage.get("prompt_tokens"))
    completion = _count(chat_usage.get("completion_tokens"))
    total = chat_usage.get("total_tokens")
    prompt_details = chat_usage.get("prompt_tokens_details")
    completion_details = chat_usage.get("completion_tokens_details")
    cached = prompt_details.get("cached_tokens") if isinstance(prompt_details, dict) else None
    reasoning = completion_details.get("reasoning_tokens") if isinstance(completion_details, dict) else None
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": _count(cached)},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": _count(reasoning)},
        "total_tokens": _count(total) or prompt + completion,
    }


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def response_object(
    request: dict[str, Any],
    *,
    response_id: str,
    created_at: int,
    model: str,
    output: list[dict[str, Any]],
    status: str = "completed",
    incomplete: dict[str, str] | None = None,
    usage: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The Responses object, with the request's parameters as OpenAI echoes them."""
    reasoning = as_dict(request.get("reasoning"))
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": incomplete,
        "instructions": request.get("instructions"),
        "max_output_tokens": request.get("max_output_tokens"),
        "max_tool_calls": request.get("max_tool_calls"),
        "model": model,
        "output": output,
        "parallel_tool_calls": request.get("parallel_tool_calls", True),
        "previous_response_id": request.get("previous_response_id"),
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "service_tier": "default",
        "store": request.get("store", True) is not False,
        "temperature": request.get("temperature", 1.0),
        "text": request.get("text") or {"format": {"type": "text"}},
        "tool_choice": request.get("tool_choice", "auto"),
        "tools": request.get("tools") or [],
        "top_p": request.get("top_p", 1.0),
        "truncation": request.get("truncation", "disabled"),
        "usage": usage,
        "user": request.get("user"),
        "metadata": request.get("metadata") or {},
        **({"completed_at": int(time.time())} if status != "in_progress" else {}),
    }


def message_item(item_id: str, text: str | None, refusal: str | None, status: str) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if text:
        content.append({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
    if refusal:
        content.append({"type": "refusal", "refusal": refusal})
    return {"id": item_id, "type": "message", "status": status, "role": "assistant", "content": content}


def function_call_item(item_id: str, call_id: str, name: str, arguments: str, status: str) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
    }


def reasoning_item(item_id: str, text: str) -> dict[str, Any]:
    return {"id": item_id, "type": "reasoning", "summary": [{"type": "summary_text", "text": text}]}


def output_items(choice: dict[str, Any]) -> list[dict[str, Any]]:
    """The output items of a chat choice (its message's reasoning, text, refusal and tool calls)."""
    message = as_dict(choice.get("message"))
    items: list[dict[str, Any]] = []
    reasoning = message.get("reasoning_content")
    if isinstance(reasoning, str) and reasoning:
        items.append(reasoning_item(new_id("rs"), reasoning))
    content = message.get("content")
    if isinstance(content, list):  # a few servers answer with parts
        content = "".join(str(p.get("text") or "") for p in content if isinstance(p, dict))
    refusal = message.get("refusal") if isinstance(message.get("refusal"), str) else None
    if content or refusal:
        items.append(message_item(new_id("msg"), content or None, refusal, "completed"))
    for call in message.get("tool_calls") or []:
        if not isinstance(call, dict):
            continue
        function = as_dict(call.get("function"))
        call_id = str(call.get("id") or new_id("call"))
        items.append(
            function_call_item(
                new_id("fc"),
                call_id,
                str(function.get("name") or ""),
                str(function.get("arguments") or ""),
                "completed",
            )
        )
    return items


def from_chat(request: dict[str, Any], answer: dict[str, Any], response_id: str) -> dict[str, Any]:
    """The Responses object for a complete chat ``answer`` to ``request`` (the client's body)."""
    choices = answer.get("choices")
    choices = choices if isinstance(choices, list) else []
    choice = choices[0] if choices and isinstance(choices[0], dict) else {}
    status, incomplete = status_of(choice.get("finish_reason"))
    created = answer.get("created")
    return response_object(
        request,
        response_id=response_id,
        created_at=created if isinstance(created, int) else int(time.time()),
        model=str(answer.get("model") or request.get("model") or ""),
        output=output_items(choice),
        status=status,
        incomplete=incomplete,
        usage=usage(answer.get("usage")),
    )
