"""``prompts``: the field of each endpoint's request that holds its prompt, and its characters of text."""

from __future__ import annotations

import pytest

from llmgate.telemetry.prompts import PROMPT_KEYS, prompt_chars, prompt_of

MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {
        "role": "user",
        "content": [{"type": "text", "text": "Describe"}, {"type": "image_url", "image_url": {}}],
    },
]


@pytest.mark.parametrize(
    ("endpoint", "field"),
    [
        ("chat/completions", "messages"),
        ("messages", "messages"),
        ("completions", "prompt"),
        ("images/generations", "prompt"),
        ("rerank", "query"),
        ("embeddings", "input"),
        ("moderations", "input"),
    ],
)
def test_each_endpoint_names_the_field_of_its_prompt(endpoint: str, field: str) -> None:
    assert prompt_of(endpoint, {"model": "m", field: "the prompt"}) == "the prompt"
    assert field in PROMPT_KEYS  # dropped from the record of a deployment that does not log prompts


def test_characters_count_text_only() -> None:
    assert prompt_chars(MESSAGES) == len("Be brief.") + len("Describe")
    assert prompt_chars(["ab", "cde", 7]) == 5
    assert prompt_chars("hello") == 5
    assert prompt_chars({"not": "a prompt"}) == 0
