"""Prompt capture (``gen_ai.input.messages``, ``gen_ai.system_instructions``) for every API with a
prompt: chat's system messages, Anthropic's ``system`` field, the Responses API's ``instructions``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from llmgate.pricing import PriceBook
from llmgate.telemetry.call_record import CallRecord, to_row_parsed
from llmgate.telemetry.otel_attributes import request_attributes


def _attributes(endpoint: str, request: dict[str, Any]) -> dict[str, Any]:
    call = CallRecord(
        id="r1", created_at=datetime.now(UTC), endpoint=endpoint, model="m", request=request, stream=False
    )
    row, parsed = to_row_parsed(call, PriceBook())
    return request_attributes(call, row, parsed, capture_content=True)


def test_chat_system_messages_are_instructions() -> None:
    attributes = _attributes(
        "chat/completions",
        {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]},
    )
    assert orjson.loads(attributes["gen_ai.system_instructions"]) == ["Be brief."]
    assert orjson.loads(attributes["gen_ai.input.messages"]) == [{"role": "user", "content": "Hi"}]


def test_anthropic_system_field_and_messages() -> None:
    attributes = _attributes(
        "messages",
        {"system": [{"type": "text", "text": "Be brief."}], "messages": [{"role": "user", "content": "Hi"}]},
    )
    assert orjson.loads(attributes["gen_ai.system_instructions"]) == [[{"type": "text", "text": "Be brief."}]]
    assert orjson.loads(attributes["gen_ai.input.messages"]) == [{"role": "user", "content": "Hi"}]


def test_responses_instructions_and_input() -> None:
    attributes = _attributes("responses", {"instructions": "Be brief.", "input": "Hi"})
    assert orjson.loads(attributes["gen_ai.system_instructions"]) == ["Be brief."]
    assert orjson.loads(attributes["gen_ai.input.messages"]) == [{"role": "user", "content": "Hi"}]
