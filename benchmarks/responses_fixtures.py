"""What nginx answers on ``/v1/responses`` in the gateway benchmark: a static Responses API object
and a static typed-event stream of the same answer (the chat fixtures' sentence), so the
Responses path is measured against the same floor as chat completions."""

from __future__ import annotations

import json
from typing import Any

TEXT = "The sea keeps its own time, patient and vast."
WORDS = ["The", "sea", "keeps", "its", "own", "time,", "patient", "and", "vast."]
USAGE = {
    "input_tokens": 27,
    "input_tokens_details": {"cached_tokens": 0},
    "output_tokens": 11,
    "output_tokens_details": {"reasoning_tokens": 0},
    "total_tokens": 38,
}


def _message(status: str, text: str) -> dict[str, Any]:
    return {
        "id": "msg_bench",
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}] if text else [],
    }


def response_object(status: str = "completed", text: str = TEXT) -> dict[str, Any]:
    done = status == "completed"
    return {
        "id": "resp_bench",
        "object": "response",
        "created_at": 1700000000,
        "status": status,
        "model": "bench-upstream",
        "output": [_message(status, text)] if done else [],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": USAGE if done else None,
    }


def responses_sse() -> str:
    """The Responses API's typed events for one text answer, as OpenAI streams them (without
    ``response.in_progress``: nginx takes at most 4 KB in a ``return``)."""
    part = {"type": "output_text", "text": "", "annotations": []}
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": response_object("in_progress")},
        {"type": "response.output_item.added", "output_index": 0, "item": _message("in_progress", "")},
        {
            "type": "response.content_part.added",
            "item_id": "msg_bench",
            "output_index": 0,
            "content_index": 0,
            "part": part,
        },
    ]
    events += [
        {
            "type": "response.output_text.delta",
            "item_id": "msg_bench",
            "output_index": 0,
            "content_index": 0,
            "delta": (" " if i else "") + word,
        }
        for i, word in enumerate(WORDS)
    ]
    events += [
        {
            "type": "response.output_text.done",
            "item_id": "msg_bench",
            "output_index": 0,
            "content_index": 0,
            "text": TEXT,
        },
        {
            "type": "response.content_part.done",
            "item_id": "msg_bench",
            "output_index": 0,
            "content_index": 0,
            "part": {**part, "text": TEXT},
        },
        {"type": "response.output_item.done", "output_index": 0, "item": _message("completed", TEXT)},
        {"type": "response.completed", "response": response_object()},
    ]
    return "".join(
        f"event: {event['type']}\ndata: {json.dumps({**event, 'sequence_number': n})}\n\n"
        for n, event in enumerate(events)
    )
