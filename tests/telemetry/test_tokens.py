"""tiktoken counts, offline, from the encodings litellm ships."""

from __future__ import annotations

import os

import tiktoken

from llmgate.telemetry import tokens
from support.shared_data import load_rows


def test_cache_dir_found_from_installed_litellm() -> None:
    path = tokens.tiktoken_cache_dir()
    assert path is not None and path.is_dir() and any(path.iterdir())


def test_encoding_per_model() -> None:
    assert tokens.encoding_name("gpt-4o-mini") == "o200k_base"
    assert tokens.encoding_name("openai/gpt-4") == "cl100k_base"
    assert tokens.encoding_name("llama-3-70b") == "cl100k_base"  # unknown models: a sensible default


def test_counts_match_tiktoken() -> None:
    text = "The quick brown fox jumps over the lazy dog. Ünïcödé and emoji 🎉 too."
    tokens.count_text("gpt-4o", "warm")  # sets TIKTOKEN_CACHE_DIR when unset
    assert os.environ.get("TIKTOKEN_CACHE_DIR")
    assert tokens.count_text("gpt-4o", text) == len(tiktoken.get_encoding("o200k_base").encode(text))
    assert tokens.count_text("gpt-4o", "") == 0


def test_chat_prompt_counts_per_message_overhead() -> None:
    one = tokens.count_messages("gpt-4o", [{"role": "user", "content": "hello"}])
    two = tokens.count_messages("gpt-4o", [{"role": "user", "content": "hello"}] * 2)
    enc = tiktoken.get_encoding("o200k_base")
    per_message = 3 + len(enc.encode("user")) + len(enc.encode("hello"))
    assert one == 3 + per_message and two == 3 + 2 * per_message


def test_prompt_of_each_endpoint() -> None:
    assert tokens.count_prompt("gpt-4o", "completions", {"prompt": "hello world"}) == 2
    assert tokens.count_prompt("gpt-4o", "embeddings", {"input": ["hello world", "hi"]}) == 3
    assert tokens.count_prompt("gpt-4o", "embeddings", {"input": [1, 2, 3, 4]}) == 4
    multimodal = [{"role": "user", "content": [{"type": "text", "text": "describe"}, {"type": "image_url"}]}]
    assert tokens.count_prompt("gpt-4o", "chat/completions", {"messages": multimodal}) > 3


def test_long_text_is_counted_in_pieces_as_tiktoken_counts_it_whole() -> None:
    """Real English (HaluEval's passages, ~1 MB) and a run of one letter longer than a piece:
    the same count as tiktoken's over the whole text."""
    rows = load_rows("halueval_general_dev.jsonl") + load_rows("halueval_qa_dev.jsonl")
    english = "\n".join(str(value) for row in rows for value in row.values() if isinstance(value, str))
    english = english[: tokens.COUNTED_CHARS]
    assert len(english) > 20 * tokens.PIECE_CHARS
    enc = tiktoken.get_encoding("o200k_base")
    assert tokens.count_text("gpt-4o", english) == len(enc.encode(english, disallowed_special=()))
    run = "x" * (5 * tokens.PIECE_CHARS + 123)
    assert tokens.count_text("gpt-4o", run) == len(enc.encode(run))


def test_past_the_counted_part_the_rest_is_estimated_from_it() -> None:
    """Fifty megabytes of one letter (minutes of the writer's time when counted whole) are
    estimated from the first megabyte at its rate."""
    head = tokens.count_text("gpt-4o", "x" * tokens.COUNTED_CHARS)
    assert tokens.count_text("gpt-4o", "x" * (48 * tokens.COUNTED_CHARS)) == 48 * head
    mixed = "word " * (tokens.COUNTED_CHARS // 5) + "x" * tokens.COUNTED_CHARS
    assert tokens.count_text("gpt-4o", mixed) == 2 * tokens.count_text(
        "gpt-4o", mixed[: tokens.COUNTED_CHARS]
    )
