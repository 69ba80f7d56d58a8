"""``protocol.message_text``: the one reading of a message's text, and the readers that use it."""

from __future__ import annotations

from typing import Any

import pytest

from llmgate.monitors.features import prompt_text
from llmgate.monitors.rag_extract import ContextSources, extract_rag
from llmgate.protocol.message_text import message_text
from llmgate.providers import mock
from llmgate.telemetry.tokens import content_text

IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
AUDIO = {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}


@pytest.mark.parametrize(
    ("content", "text"),
    [
        (None, ""),
        ("", ""),
        ("plain words", "plain words"),
        ([], ""),
        ([{"type": "text", "text": "one"}], "one"),
        ([{"type": "text", "text": "one"}, {"type": "text", "text": "two"}], "one\ntwo"),
        ([{"type": "input_text", "text": "in"}, {"type": "output_text", "text": "out"}], "in\nout"),
        ([{"text": "no type"}], "no type"),
        (["bare", "strings"], "bare\nstrings"),
        ([IMAGE], ""),
        ([{"type": "text", "text": "look"}, IMAGE, AUDIO, {"type": "text", "text": "here"}], "look\nhere"),
        ([{"type": "refusal", "refusal": "I can't help with that."}], "I can't help with that."),
        ([{"type": "image_url", "text": "not words"}], ""),  # a text field on a non-text part
        ([{"type": "text", "text": 3}, {"type": "text"}, None, 7], ""),  # malformed parts
        (42, ""),
        ({"type": "text", "text": "an object, not a list"}, ""),
    ],
)
def test_message_text(content: Any, text: str) -> None:
    assert message_text(content) == text


def test_a_tool_message_reads_as_any_other() -> None:
    tool = {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "42 C"}]}
    assert message_text(tool["content"]) == "42 C"
    assert message_text({"role": "tool", "content": "42 C"}["content"]) == "42 C"


def test_an_assistant_message_with_only_tool_calls_has_no_text() -> None:
    assert message_text({"role": "assistant", "content": None, "tool_calls": []}["content"]) == ""


PARTS = [{"type": "text", "text": "alpha"}, IMAGE, {"type": "text", "text": "beta"}]


def test_token_counts_read_the_same_text() -> None:
    """Before: ``tokens.content_text`` glued parts ("alphabeta")."""
    assert content_text(PARTS) == "alpha\nbeta"
    assert content_text({"odd": "shape"}) == '{"odd":"shape"}'  # no message content: counted as sent


def test_the_mock_echoes_the_same_text() -> None:
    """Before: the mock joined parts with a space and ignored typeless and refusal parts."""
    body = {"messages": [{"role": "user", "content": [*PARTS, {"text": "gamma"}]}]}
    assert mock._last_user_text(body) == "alpha\nbeta\ngamma"


def test_drift_and_rag_samples_read_the_same_text() -> None:
    """Before: drift took a ``text`` of any part (an image's too); RAG left out output_text parts."""
    request = {"messages": [{"role": "user", "content": [*PARTS, {"type": "image_url", "text": "x"}]}]}
    assert prompt_text("chat/completions", request) == "alpha\nbeta"
    passage = "llmgate records every call it proxies to the store."
    messages = [
        {"role": "user", "content": [{"type": "input_text", "text": "What does llmgate record?"}]},
        {"role": "tool", "tool_call_id": "c1", "content": [{"type": "output_text", "text": passage}]},
    ]
    example = extract_rag(
        {"messages": messages},
        response_text="Every call.",
        metadata=None,
        header_context=None,
        sources=ContextSources(),
    )
    assert example is not None
    assert (example.question, example.passages) == ("What does llmgate record?", (passage,))
