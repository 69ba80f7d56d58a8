"""``semantic_request``: which requests the semantic cache may answer, and the rest that must match."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from llmgate.cache.semantic_rules import semantic_request, tool_names
from llmgate.config.cache_settings import SemanticCacheSettings

DEFAULTS = SemanticCacheSettings()
SYSTEM = {"role": "system", "content": "You answer questions about our product."}


def chat(question: Any = "How do I reset my password?", **params: Any) -> dict[str, Any]:
    return {"model": "gpt", "messages": [SYSTEM, {"role": "user", "content": question}], **params}


def weather_tool(name: str = "get_weather") -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}


def test_a_plain_question_is_eligible_and_its_text_is_split_off() -> None:
    body = chat(temperature=0)
    before = copy.deepcopy(body)
    found = semantic_request("chat/completions", body, DEFAULTS)
    assert found is not None
    rest, text = found
    assert text == "How do I reset my password?"
    assert rest["messages"] == [SYSTEM, {"role": "user"}]
    assert rest["temperature"] == 0 and rest["model"] == "gpt"
    assert body == before  # the request itself is left alone


def test_two_phrasings_share_the_rest_and_anything_else_changes_it() -> None:
    def rest_of(body: dict[str, Any]) -> dict[str, Any]:
        found = semantic_request("chat/completions", body, DEFAULTS)
        assert found is not None
        return found[0]

    rest = rest_of(chat("How do I reset my password?"))
    assert rest_of(chat("How can I reset my password?")) == rest

    other_system = chat()
    other_system["messages"][0] = {"role": "system", "content": "You are a pirate."}
    earlier_turn = chat()
    earlier_turn["messages"][1:1] = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "yo"},
    ]
    named = chat()
    named["messages"][-1]["name"] = "alice"
    for changed in (other_system, earlier_turn, named, chat(temperature=0.2), chat(seed=1)):
        assert rest_of(changed) != rest


def test_text_parts_count_and_any_other_part_makes_it_ineligible() -> None:
    parts = [{"type": "text", "text": "What is"}, {"type": "text", "text": "this?"}]
    found = semantic_request("chat/completions", chat(parts), DEFAULTS)
    assert found is not None and found[1] == "What is\nthis?"
    image = [*parts, {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]
    assert semantic_request("chat/completions", chat(image), DEFAULTS) is None


@pytest.mark.parametrize(
    "messages",
    [
        [],
        [SYSTEM],
        [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
        [{"role": "user", "content": "weather?"}, {"role": "tool", "tool_call_id": "1", "content": "sunny"}],
        [{"role": "user", "content": "   "}],
        [{"role": "user", "content": None}],
    ],
)
def test_no_user_question_last_is_ineligible(messages: list[dict[str, Any]]) -> None:
    assert semantic_request("chat/completions", {"model": "gpt", "messages": messages}, DEFAULTS) is None


def test_temperature_above_the_maximum_and_an_unset_one_counts_as_one() -> None:
    cool = SemanticCacheSettings(max_temperature=0.5)
    assert semantic_request("chat/completions", chat(temperature=0.5), cool) is not None
    assert semantic_request("chat/completions", chat(temperature=0.7), cool) is None
    assert semantic_request("chat/completions", chat(), cool) is None  # unset: 1.0
    assert semantic_request("chat/completions", chat(), DEFAULTS) is not None  # 1.0 ≤ 1.0
    assert semantic_request("chat/completions", chat(temperature=1.5), DEFAULTS) is None
    assert semantic_request("chat/completions", chat(temperature="0"), DEFAULTS) is None


def test_several_answers_are_never_reused() -> None:
    assert semantic_request("chat/completions", chat(n=1), DEFAULTS) is not None
    assert semantic_request("chat/completions", chat(n=2), DEFAULTS) is None


def test_tools_only_when_allowed_or_all_safe() -> None:
    two = chat(tools=[weather_tool(), weather_tool("send_email")])
    assert semantic_request("chat/completions", two, DEFAULTS) is None
    assert semantic_request("chat/completions", two, SemanticCacheSettings(allow_tools=True)) is not None
    only_weather = SemanticCacheSettings(safe_tools=["get_weather"])
    assert semantic_request("chat/completions", two, only_weather) is None
    assert semantic_request("chat/completions", chat(tools=[weather_tool()]), only_weather) is not None
    legacy = chat(functions=[{"name": "send_email", "parameters": {}}])
    assert semantic_request("chat/completions", legacy, only_weather) is None
    builtin = chat(tools=[{"type": "web_search"}])
    assert tool_names(builtin) is None
    assert semantic_request("chat/completions", builtin, only_weather) is None


def test_completions_split_off_their_one_prompt() -> None:
    body = {"model": "gpt", "prompt": "Say hi", "max_tokens": 5, "temperature": 0}
    found = semantic_request("completions", body, DEFAULTS)
    assert found == ({"model": "gpt", "max_tokens": 5, "temperature": 0}, "Say hi")
    assert semantic_request("completions", {**body, "prompt": ["Say hi"]}, DEFAULTS) == found
    assert semantic_request("completions", {**body, "prompt": ["a", "b"]}, DEFAULTS) is None
    assert semantic_request("completions", {**body, "prompt": [1, 2, 3]}, DEFAULTS) is None
    assert semantic_request("completions", {**body, "echo": True}, DEFAULTS) is None


@pytest.mark.parametrize("endpoint", ["embeddings", "responses", "messages"])
def test_other_endpoints_are_never_answered_semantically(endpoint: str) -> None:
    body = {"model": "gpt", "input": "hello", "messages": [{"role": "user", "content": "hello"}]}
    assert semantic_request(endpoint, body, DEFAULTS) is None
