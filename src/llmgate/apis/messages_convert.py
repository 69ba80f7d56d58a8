"""Anthropic's Messages API to chat completions and back: the request, and a complete answer.

``to_chat`` makes the chat completions body a chat-only deployment is sent for a Messages
request: ``system`` (a string or text blocks) becomes the system message; content blocks become
chat messages (``text`` and ``image`` parts, an assistant's ``tool_use`` blocks its
``tool_calls``, a user's ``tool_result`` blocks ``tool`` messages before the rest of its turn);
``tools`` (``name``, ``description``, ``input_schema``) become function tools; ``tool_choice``,
``max_tokens``, ``stop_sequences`` (``stop``), ``temperature``, ``top_p`` and ``metadata.user_id``
(``user``) carry over. What chat has no place for (``thinking``, ``top_k``, ``cache_control``,
server tools, documents) is left out: the deployment could not honour it.

``to_message`` makes the Messages answer of a chat completion: a ``message`` object whose content
is a ``text`` block and a ``tool_use`` block per tool call (its arguments parsed into ``input``),
``stop_reason`` from ``finish_reason`` (``stop`` → ``end_turn``, ``length`` → ``max_tokens``,
``tool_calls`` → ``tool_use``), and usage in Anthropic's terms (``input_tokens`` without the
cached prompt tokens, which are ``cache_read_input_tokens``).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

import orjson

from llmgate.protocol.message_text import message_text

__all__ = [
    "STOP_REASONS",
    "as_object",
    "message_id",
    "parse_arguments",
    "stop_reason",
    "to_chat",
    "to_message",
    "usage_of",
]

#: chat ``finish_reason`` → Messages ``stop_reason``
STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def _image_part(block: Mapping[str, Any]) -> dict[str, Any] | None:
    source = block.get("source")
    if not isinstance(source, dict):
        return None
    if source.get("type") == "base64":
        url = f"data:{source.get('media_type', 'image/png')};base64,{source.get('data', '')}"
    elif source.get("type") == "url" and isinstance(source.get("url"), str):
        url = source["url"]
    else:
        return None
    return {"type": "image_url", "image_url": {"url": url}}


def _tool_message(block: Mapping[str, Any]) -> dict[str, Any]:
    content = block.get("content")
    text = content if isinstance(content, str) else message_text(content)
    if block.get("is_error") and not text:
        text = "error"
    return {"role": "tool", "tool_call_id": str(block.get("tool_use_id", "")), "content": text}


def _assistant_message(blocks: list[Any]) -> dict[str, Any]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in blocks:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif block.get("type") == "tool_use":
            arguments = orjson.dumps(block.get("input", {})).decode()
            function = {"name": str(block.get("name", "")), "arguments": arguments}
            calls.append({"id": str(block.get("id", "")), "type": "function", "function": function})
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    if calls:
        message["tool_calls"] = calls
    elif message["content"] is None:
        message["content"] = ""
    return message


def _user_messages(role: str, blocks: list[Any]) -> list[dict[str, Any]]:
    """Tool results first (each a ``tool`` message, answering the assistant's calls just before),
    then the rest of the turn as one message of text and image parts."""
    results: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for block in blocks:
        if isinstance(block, str):
            parts.append({"type": "text", "text": block})
        elif not isinstance(block, dict):
            continue
        elif block.get("type") == "tool_result":
            results.append(_tool_message(block))
        elif block.get("type") == "text" and isinstance(block.get("text"), str):
            parts.append({"type": "text", "text": block["text"]})
        elif block.get("type") == "image" and (image := _image_part(block)) is not None:
            parts.append(image)
    if not parts:
        return results
    if all(part["type"] == "text" for part in parts):  # plain text: every chat server takes a string
        return [*results, {"role": role, "content": "\n".join(part["text"] for part in parts)}]
    return [*results, {"role": role, "content": parts}]


def _chat_messages(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    role = str(message.get("role"))
    content = message.get("content")
    if not isinstance(content, list):
        return [{"role": role, "content": content if isinstance(content, str) else ""}]
    if role == "assistant":
        return [_assistant_message(content)]
    return _user_messages(role, content)


def _tools(tools: Any) -> list[dict[str, Any]]:
    functions = []
    for tool in tools if isinstance(tools, list) else []:
        # client tools only: a server tool (web search, ...) has a dated type and no input_schema
        if not isinstance(tool, dict) or tool.get("type") not in (None, "custom") or "name" not in tool:
            continue
        function: dict[str, Any] = {"name": tool["name"]}
        if isinstance(tool.get("description"), str):
            function["description"] = tool["description"]
        function["parameters"] = tool.get("input_schema") or {"type": "object", "properties": {}}
        functions.append({"type": "function", "function": function})
    return functions


def _tool_choice(choice: Any) -> Any:
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind == "tool" and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}
    return {"auto": "auto", "any": "required", "none": "none"}.get(str(kind))


def to_chat(body: Mapping[str, Any]) -> dict[str, Any]:
    """The chat completions body for a Messages request (its ``model`` already the deployment's)."""
    messages: list[dict[str, Any]] = []
    system = body.get("system")
    if system:
        messages.append(
            {"role": "system", "content": system if isinstance(system, str) else message_text(system)}
        )
    for message in body.get("messages") or []:
        if isinstance(message, dict):
            messages.extend(_chat_messages(message))
    chat: dict[str, Any] = {"model": body["model"], "messages": messages}
    if body.get("max_tokens") is not None:
        chat["max_tokens"] = body["max_tokens"]
    for name in ("temperature", "top_p"):
        if body.get(name) is not None:
            chat[name] = body[name]
    if body.get("stop_sequences"):
        chat["stop"] = body["stop_sequences"]
    tools = _tools(body.get("tools"))
    if tools:
        chat["tools"] = tools
        choice = body.get("tool_choice")
        if (mapped := _tool_choice(choice)) is not None:
            chat["tool_choice"] = mapped
        if isinstance(choice, dict) and choice.get("disable_parallel_tool_use"):
            chat["parallel_tool_calls"] = False
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
        chat["user"] = metadata["user_id"]
    if body.get("stream"):
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    return chat


def parse_arguments(arguments: Any) -> dict[str, Any]:
    """A tool call's arguments (JSON text) as the ``input`` object a ``tool_use`` block carries."""
    if isinstance(arguments, dict):
        return arguments
    try:
        parsed = orjson.loads(arguments) if isinstance(arguments, str) and arguments else {}
    except orjson.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def stop_reason(finish_reason: Any, called_tools: bool) -> str:
    if called_tools and finish_reason in (None, "stop"):  # some servers say "stop" after tool calls
        return "tool_use"
    return STOP_REASONS.get(str(finish_reason), "end_turn")


def message_id(chat_id: Any) -> str:
    text = chat_id if isinstance(chat_id, str) and chat_id else secrets.token_hex(12)
    return text if text.startswith("msg_") else f"msg_{text}"


def as_object(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one (an upstream's JSON is read defensively)."""
    return value if isinstance(value, dict) else {}


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def usage_of(usage: Any) -> dict[str, int] | None:
    """A chat ``usage`` in Anthropic's terms (None when the answer had none)."""
    if not isinstance(usage, dict):
        return None
    prompt = _count(usage.get("prompt_tokens"))
    details = usage.get("prompt_tokens_details")
    cached = min(_count(details.get("cached_tokens")) if isinstance(details, dict) else 0, prompt)
    return {
        "input_tokens": prompt - cached,
        "output_tokens": _count(usage.get("completion_tokens")),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
    }


def to_message(chat: Mapping[str, Any], model: str) -> tuple[dict[str, Any], bool]:
    """The Messages answer of a chat completion, and whether it carried usage (else the counts
    are zeros for the caller to estimate)."""
    choices = [c for c in chat.get("choices") or [] if isinstance(c, dict)]
    choice = next((c for c in choices if c.get("index", 0) == 0), choices[0] if choices else {})
    reply = as_object(choice.get("message"))
    content: list[dict[str, Any]] = []
    text = reply.get("content")
    text = text if isinstance(text, str) else message_text(text)
    if text:
        content.append({"type": "text", "text": text})
    for i, call in enumerate(reply.get("tool_calls") or []):
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            tool_id = call.get("id") or f"toolu_{i}"
            name = str(function.get("name", ""))
            tool = {"type": "tool_use", "id": tool_id, "name": name}
            content.append({**tool, "input": parse_arguments(function.get("arguments"))})
    usage = usage_of(chat.get("usage"))
    message = {
        "id": message_id(chat.get("id")),
        "type": "message",
        "role": "assistant",
        "model": chat.get("model") if isinstance(chat.get("model"), str) else model,
        "content": content,
        "stop_reason": stop_reason(
            choice.get("finish_reason"), any(b["type"] == "tool_use" for b in content)
        ),
        "stop_sequence": None,
        "usage": usage or {"input_tokens": 0, "output_tokens": 0},
    }
    return message, usage is not None
