"""litellm's response objects in OpenAI's wire shape.

litellm returns its own pydantic objects (ModelResponse, TextCompletionResponse,
EmbeddingResponse and their stream chunks) that carry private fields beyond OpenAI's schema.
These functions rebuild each one field by field into exactly what OpenAI's API sends, so the
gateway's clients cannot tell which provider answered. Pure functions: nothing here imports
litellm.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any


def _dump(obj: Any) -> dict[str, Any]:
    if isinstance(obj, Mapping):
        return dict(obj)
    dumped: dict[str, Any] = obj.model_dump(warnings=False)
    return dumped


def _set(out: dict[str, Any], source: Mapping[str, Any], keys: Iterable[str]) -> None:
    for key in keys:
        if source.get(key) is not None:
            out[key] = source[key]


def _details(value: Any, keys: tuple[str, ...]) -> dict[str, Any] | None:
    if not isinstance(value, Mapping):
        return None
    picked = {k: value[k] for k in keys if value.get(k) is not None}
    return picked or None


def _usage(value: Any, *, embedding: bool = False) -> dict[str, Any] | None:
    if not isinstance(value, Mapping):
        return None
    prompt = int(value.get("prompt_tokens") or 0)
    if embedding:
        return {"prompt_tokens": prompt, "total_tokens": int(value.get("total_tokens") or prompt)}
    completion = int(value.get("completion_tokens") or 0)
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": int(value.get("total_tokens") or prompt + completion),
    }
    prompt_details = _details(value.get("prompt_tokens_details"), ("cached_tokens", "audio_tokens"))
    completion_details = _details(
        value.get("completion_tokens_details"),
        ("reasoning_tokens", "audio_tokens", "accepted_prediction_tokens", "rejected_prediction_tokens"),
    )
    if prompt_details:
        usage["prompt_tokens_details"] = prompt_details
    if completion_details:
        usage["completion_tokens_details"] = completion_details
    return usage


def _tool_calls(value: Any, *, delta: bool) -> list[dict[str, Any]] | None:
    if not value:
        return None
    calls: list[dict[str, Any]] = []
    for raw in value:
        call: dict[str, Any] = {}
        if delta:
            call["index"] = raw.get("index", len(calls))
        _set(call, raw, ("id", "type"))
        function = raw.get("function") or {}
        call["function"] = {k: function[k] for k in ("name", "arguments") if function.get(k) is not None}
        if not delta:
            call.setdefault("type", "function")
            call["function"].setdefault("arguments", "")
        calls.append(call)
    return calls


#: message and delta fields of OpenAI's schema (``reasoning_content`` is the de-facto
#: extension for reasoning text that OpenAI-compatible servers and clients share)
_MESSAGE_EXTRA = ("refusal", "function_call", "audio", "annotations", "reasoning_content")


def _message(raw: Mapping[str, Any], *, delta: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if delta:
        _set(out, raw, ("role", "content"))
    else:
        out["role"] = raw.get("role") or "assistant"
        out["content"] = raw.get("content")
    calls = _tool_calls(raw.get("tool_calls"), delta=delta)
    if calls:
        out["tool_calls"] = calls
    _set(out, raw, _MESSAGE_EXTRA)
    return out


def _envelope(raw: Mapping[str, Any], object_name: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": raw.get("id"),
        "object": object_name,
        "created": raw.get("created") or int(time.time()),
        "model": raw.get("model"),
    }
    _set(out, raw, ("system_fingerprint", "service_tier"))
    return out


def chat_completion(obj: Any) -> dict[str, Any]:
    raw = _dump(obj)
    out = _envelope(raw, "chat.completion")
    out["choices"] = [
        {
            "index": choice.get("index", i),
            "message": _message(choice.get("message") or {}, delta=False),
            "logprobs": choice.get("logprobs"),
            "finish_reason": choice.get("finish_reason"),
        }
        for i, choice in enumerate(raw.get("choices") or [])
    ]
    usage = _usage(raw.get("usage"))
    if usage is not None:
        out["usage"] = usage
    return out


def chat_chunk(obj: Any) -> dict[str, Any]:
    raw = _dump(obj)
    out = _envelope(raw, "chat.completion.chunk")
    choices = [
        {
            "index": choice.get("index", i),
            "delta": _message(choice.get("delta") or {}, delta=True),
            "logprobs": choice.get("logprobs"),
            "finish_reason": choice.get("finish_reason"),
        }
        for i, choice in enumerate(raw.get("choices") or [])
    ]
    usage = _usage(raw.get("usage"))
    if usage is not None and all(not c["delta"] and c["finish_reason"] is None for c in choices):
        choices = []  # the usage chunk: OpenAI sends it with no choices
    out["choices"] = choices
    if usage is not None:
        out["usage"] = usage
    return out


def text_completion(obj: Any, *, chunk: bool = False) -> dict[str, Any]:
    raw = _dump(obj)
    out = _envelope(raw, "text_completion")
    choices = [
        {
            "text": choice.get("text") or "",
            "index": choice.get("index", i),
            "logprobs": choice.get("logprobs"),
            "finish_reason": choice.get("finish_reason"),
        }
        for i, choice in enumerate(raw.get("choices") or [])
    ]
    usage = _usage(raw.get("usage"))
    if chunk and usage is not None and all(not c["text"] and c["finish_reason"] is None for c in choices):
        choices = []
    out["choices"] = choices
    if usage is not None:
        out["usage"] = usage
    return out


def embedding(obj: Any) -> dict[str, Any]:
    raw = _dump(obj)
    data = [
        {"object": "embedding", "index": item.get("index", i), "embedding": item.get("embedding")}
        for i, item in enumerate(raw.get("data") or [])
    ]
    out: dict[str, Any] = {"object": "list", "data": data, "model": raw.get("model")}
    usage = _usage(raw.get("usage"), embedding=True)
    if usage is not None:
        out["usage"] = usage
    return out
