"""A Responses API request as a chat completions request, for a deployment that speaks only chat.

``input_items`` reads ``input`` (a string is one user message) as the list of items a response keeps;
``to_chat`` turns the stored chain of earlier items, this request's items and its parameters into a
chat body: ``instructions`` (a system message first), message items and their parts (``input_text``,
``input_image``, ``input_file``, ``input_audio``, ``output_text``, ``refusal``), ``function_call``
items (an assistant message's ``tool_calls``; consecutive calls are one message, as a parallel call
is) and ``function_call_output`` items (``tool`` messages); function tools and ``tool_choice``;
``text.format`` (``response_format``); ``reasoning.effort`` (``reasoning_effort``);
``max_output_tokens`` (``max_completion_tokens``, or ``max_tokens`` for servers that know only that);
``temperature``, ``top_p``, ``parallel_tool_calls``, ``metadata``, ``user``, ``top_logprobs``.

Items chat has no place for (``reasoning``, ``item_reference``, built-in tool calls) are left out;
a built-in tool (``web_search``, ``file_search``, ...) cannot be served by a chat model, so asking
for one is refused (``UnsupportedRequest``) rather than silently answered without it. Parameters
that are the Responses API's own (``store``, ``previous_response_id``, ``include``, ``truncation``,
``background``) are not sent; chat parameters a deployment sets as request defaults are.
"""

from __future__ import annotations

from typing import Any

from llmgate.protocol.message_text import message_text

__all__ = ["UnsupportedRequest", "input_items", "to_chat"]

#: the Responses API's own parameters: never sent to a chat upstream
_RESPONSES_ONLY = frozenset(
    {
        "input",
        "instructions",
        "previous_response_id",
        "store",
        "include",
        "truncation",
        "background",
        "text",
        "reasoning",
        "max_output_tokens",
        "max_tool_calls",
        "tools",
        "tool_choice",
        "conversation",
        "prompt",
        "prompt_cache_key",
        "prompt_cache_retention",
        "safety_identifier",
        "stream_options",
        "service_tier",
    }
)


class UnsupportedRequest(ValueError):
    """The request asks for something a chat model cannot give (the message says what)."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message, self.param = message, param


def input_items(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The request's input as items (a string is one user message)."""
    value = body.get("input")
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": value}]}]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, dict)]
    return []


def to_chat(
    body: dict[str, Any], items: list[dict[str, Any]], *, max_tokens_name: str = "max_completion_tokens"
) -> dict[str, Any]:
    """The chat body for ``body`` whose conversation is ``items`` (the stored chain, then its input)."""
    messages: list[dict[str, Any]] = []
    instructions = body.get("instructions")
    if isinstance(instructions, str) and instructions:
        messages.append({"role": "system", "content": instructions})
    elif isinstance(instructions, list):
        messages += _messages([i for i in instructions if isinstance(i, dict)])
    messages += _messages(items)
    chat: dict[str, Any] = {k: v for k, v in body.items() if k not in _RESPONSES_ONLY}
    chat["messages"] = messages
    if body.get("top_logprobs"):
        chat["logprobs"] = True
    if body.get("max_output_tokens") is not None:
        chat.pop("max_tokens", None)
        chat.pop("max_completion_tokens", None)
        chat[max_tokens_name] = body["max_output_tokens"]
    tools = [_tool(t) for t in body.get("tools") or []]
    if tools:
        chat["tools"] = tools
        if body.get("parallel_tool_calls") is not None:
            chat["parallel_tool_calls"] = body["parallel_tool_calls"]
        choice = _tool_choice(body.get("tool_choice"))
        if choice is not None:
            chat["tool_choice"] = choice
    else:
        chat.pop("parallel_tool_calls", None)
    response_format = _response_format((body.get("text") or {}).get("format"))
    if response_format is not None:
        chat["response_format"] = response_format
    effort = (body.get("reasoning") or {}).get("effort")
    if isinstance(effort, str):
        chat["reasoning_effort"] = effort
    if body.get("stream"):
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    return chat


def _tool(tool: dict[str, Any]) -> dict[str, Any]:
    if tool.get("type") != "function":
        raise UnsupportedRequest(
            f"The tool type '{tool.get('type')}' is not supported by this model: it is served through "
            "chat completions, which take only function tools.",
            param="tools",
        )
    function = {"name": tool.get("name"), "parameters": tool.get("parameters") or {"type": "object"}}
    if tool.get("description") is not None:
        function["description"] = tool["description"]
    if tool.get("strict") is not None:
        function["strict"] = tool["strict"]
    return {"type": "function", "function": function}


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, str):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function" and choice.get("name"):
        return {"type": "function", "function": {"name": choice["name"]}}
    if isinstance(choice, dict) and choice.get("type") == "allowed_tools":
        return "required" if choice.get("mode") == "required" else "auto"
    return None


def _response_format(fmt: Any) -> dict[str, Any] | None:
    if not isinstance(fmt, dict) or fmt.get("type") in (None, "text"):
        return None
    if fmt.get("type") == "json_schema":
        schema = {k: fmt[k] for k in ("name", "schema", "strict", "description") if fmt.get(k) is not None}
        return {"type": "json_schema", "json_schema": schema}
    return {"type": fmt["type"]}


def _messages(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for item in items:
        kind = item.get("type", "message")
        if kind == "message":
            message = _message(item)
            if message is not None:
                messages.append(message)
        elif kind == "function_call":
            call = {
                "id": item.get("call_id") or item.get("id"),
                "type": "function",
                "function": {"name": item.get("name"), "arguments": item.get("arguments") or "{}"},
            }
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant" and last.get("_open", False):
                last.setdefault("tool_calls", []).append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call], "_open": True})
        elif kind == "function_call_output":
            output = item.get("output")
            text = output if isinstance(output, str) else message_text(_parts(output, "user"))
            messages.append({"role": "tool", "tool_call_id": item.get("call_id"), "content": text})
    for message in messages:
        message.pop("_open", None)
    return messages


def _message(item: dict[str, Any]) -> dict[str, Any] | None:
    role = item.get("role")
    if not isinstance(role, str):
        return None
    role = "system" if role == "developer" else role
    content = item.get("content")
    if role == "assistant":
        text = content if isinstance(content, str) else message_text(_parts(content, role))
        # an assistant's text and the function calls after it are one chat message
        return {"role": "assistant", "content": text, "_open": True}
    if isinstance(content, str):
        return {"role": role, "content": content}
    parts = _parts(content, role)
    if all(part["type"] == "text" for part in parts):  # plain text: the form every server takes
        return {"role": role, "content": "".join(part["text"] for part in parts)}
    return {"role": role, "content": parts}


def _parts(content: Any, role: str) -> list[dict[str, Any]]:
    """Responses content parts as chat content parts."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    parts: list[dict[str, Any]] = []
    for part in content if isinstance(content, list) else []:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind in ("input_text", "output_text", "text"):
            parts.append({"type": "text", "text": str(part.get("text") or "")})
        elif kind == "refusal":
            parts.append({"type": "text", "text": str(part.get("refusal") or "")})
        elif kind == "input_image":
            url = part.get("image_url") or part.get("file_id")
            image: dict[str, Any] = {"url": url}
            if part.get("detail"):
                image["detail"] = part["detail"]
            parts.append({"type": "image_url", "image_url": image})
        elif kind == "input_file":
            file = {k: part[k] for k in ("file_data", "file_id", "filename") if part.get(k) is not None}
            parts.append({"type": "file", "file": file})
        elif kind == "input_audio":
            parts.append({"type": "input_audio", "input_audio": part.get("input_audio") or {}})
    return parts
