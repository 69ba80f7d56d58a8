"""The exact cache's key: what changes it, what does not, and how it is filed."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

import pytest

from llmgate.cache.keys import canonical_digest, entry_key, match_pattern, scope_of, space_key, space_pattern

BODY: dict[str, Any] = {
    "model": "gpt",
    "messages": [{"role": "user", "content": "hi"}],
    "temperature": 0.2,
}


def test_key_order_and_unrelated_fields_do_not_matter() -> None:
    reordered = {"temperature": 0.2, "messages": [{"content": "hi", "role": "user"}], "model": "gpt"}
    extra = {
        **BODY,
        "stream": True,
        "stream_options": {"include_usage": True},
        "user": "ana",
        "metadata": {"a": "b"},
        "cache": {"no-store": True},
    }
    digest = canonical_digest("chat/completions", "gpt", BODY)
    assert canonical_digest("chat/completions", "gpt", reordered) == digest
    assert canonical_digest("chat/completions", "gpt", extra) == digest


@pytest.mark.parametrize(
    "change",
    [
        {"temperature": 0.3},
        {"top_p": 0.9},
        {"seed": 1},
        {"max_tokens": 5},
        {"n": 2},
        {"stop": ["x"]},
        {"logprobs": True},
        {"tools": [{"type": "function", "function": {"name": "f"}}]},
        {"tool_choice": "none"},
        {"response_format": {"type": "json_object"}},
        {"messages": [{"role": "user", "content": "hi!"}]},
    ],
)
def test_every_answer_changing_field_is_in_the_key(change: dict[str, Any]) -> None:
    assert canonical_digest("chat/completions", "gpt", {**BODY, **change}) != canonical_digest(
        "chat/completions", "gpt", BODY
    )


def test_endpoint_and_group_are_in_the_key() -> None:
    digest = canonical_digest("chat/completions", "gpt", BODY)
    assert canonical_digest("completions", "gpt", BODY) != digest
    assert canonical_digest("chat/completions", "other", BODY) != digest


def test_scopes() -> None:
    assert scope_of("team", "k1", "t1") == "team-t1"
    assert scope_of("team", "k1", None) == "key-k1"
    assert scope_of("team", None, None) == "global"
    assert scope_of("key", "k1", "t1") == "key-k1"
    assert scope_of("global", "k1", "t1") == "global"


def test_names_cannot_break_the_layout_or_a_pattern() -> None:
    key = entry_key("ns", "llama3:8b*", scope_of("team", "k", "a:b"), "d" * 64)
    assert key.count(":") == 4 and "*" not in key
    assert fnmatchcase(key, match_pattern("ns", "e", "llama3:8b*", "a:b"))
    assert fnmatchcase(key, match_pattern("ns", "e", team="a:b"))
    assert not fnmatchcase(key, match_pattern("ns", "e", "llama3"))  # a group named like its prefix
    assert not fnmatchcase(key, match_pattern("ns", "e", team="a"))
    assert space_key("n s", "g", "global", "d") == "n%20s:g:global:d"
    space = space_key("ns", "llama3:8b*", scope_of("team", "k", "a:b"), "d")
    assert fnmatchcase(space, space_pattern("ns", "llama3:8b*", "a:b"))
    assert fnmatchcase(space, space_pattern("ns"))
    assert not fnmatchcase(space, space_pattern("other"))  # never across namespaces
