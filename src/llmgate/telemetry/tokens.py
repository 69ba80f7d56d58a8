"""Token counts with tiktoken, for when the upstream reports no usage.

Used off the request path only (by the recorder), for streams without a usage chunk and
upstreams that omit ``usage``; such counts are marked estimated. tiktoken cannot download
encodings here, so ``TIKTOKEN_CACHE_DIR`` is pointed at the copies litellm ships in tiktoken's
cache format (found from the installed package, without importing litellm).
"""

from __future__ import annotations

import importlib.util
import os
from functools import cache
from pathlib import Path
from typing import Any

import orjson

from llmgate.protocol.message_text import message_text

#: message overhead of OpenAI's chat format (tokens per message, and for the reply's priming)
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING = 3


def tiktoken_cache_dir() -> Path | None:
    spec = importlib.util.find_spec("litellm")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "litellm_core_utils" / "tokenizers"
    return path if path.is_dir() else None


def _ensure_cache_dir() -> None:
    if "TIKTOKEN_CACHE_DIR" not in os.environ and (path := tiktoken_cache_dir()) is not None:
        os.environ["TIKTOKEN_CACHE_DIR"] = str(path)


@cache
def _encoding(name: str) -> Any:
    # tiktoken (and its encoding files): only when tokens are counted locally
    import tiktoken

    _ensure_cache_dir()
    return tiktoken.get_encoding(name)


@cache
def encoding_name(model: str) -> str:
    # tiktoken (and its encoding files): only when tokens are counted locally
    import tiktoken

    bare = model.rsplit("/", 1)[-1]
    try:
        return str(tiktoken.encoding_name_for_model(bare))
    except KeyError:
        pass
    if bare.startswith(("gpt-4o", "gpt-4.1", "gpt-5", "o1", "o3", "o4", "chatgpt-4o")):
        return "o200k_base"
    return "cl100k_base"


#: tiktoken's merges slow down with the length of one run of letters (a megabyte of "x" took 0.8 s,
#: five 2.8 s), so text is counted in pieces of about this many characters, cut before a space ...
PIECE_CHARS = 16_384
#: ... and past this many characters (about 250,000 tokens, more than any context window), the
#: rest is estimated from the count so far: a record's count costs at most ~0.25 s of the writer
COUNTED_CHARS = 1_048_576


def count_text(model: str, text: str) -> int:
    if not text:
        return 0
    encode = _encoding(encoding_name(model)).encode
    if len(text) <= PIECE_CHARS:
        return len(encode(text, disallowed_special=()))
    counted, start, total = min(len(text), COUNTED_CHARS), 0, 0
    while start < counted:
        end = min(start + PIECE_CHARS, counted)
        if end < len(text):  # a space starts a token: cutting before one keeps the count exact
            space = text.rfind(" ", start + PIECE_CHARS // 2, end)
            end = space if space > 0 else end
        total += len(encode(text[start:end], disallowed_special=()))
        start = end
    return total if counted == len(text) else round(total * len(text) / counted)


def content_text(content: Any) -> str:
    """What a message's ``content`` costs in tokens: its text (``protocol.message_text``), or
    the JSON of a shape that is no message content (the upstream is sent it all the same)."""
    if content is None or isinstance(content, str | list):
        return message_text(content)
    return orjson.dumps(content).decode()


def count_messages(model: str, messages: list[Any]) -> int:
    total = REPLY_PRIMING
    for message in messages:
        if not isinstance(message, dict):
            continue
        total += TOKENS_PER_MESSAGE
        total += count_text(model, str(message.get("role", "")))
        total += count_text(model, content_text(message.get("content")))
        if message.get("name"):
            total += TOKENS_PER_NAME + count_text(model, str(message["name"]))
        if message.get("tool_calls"):
            total += count_text(model, orjson.dumps(message["tool_calls"]).decode())
    return total


def count_prompt(model: str, endpoint: str, body: dict[str, Any]) -> int:
    """Prompt tokens of a request body: chat, completions, embeddings, Anthropic's messages."""
    if endpoint == "chat/completions":
        messages = body.get("messages")
        total = count_messages(model, messages if isinstance(messages, list) else [])
        if body.get("tools"):
            total += count_text(model, orjson.dumps(body["tools"]).decode())
        return total
    if endpoint in ("messages", "messages/count_tokens"):  # Anthropic's: the system prompt beside them
        messages = body.get("messages")
        total = count_messages(model, messages if isinstance(messages, list) else [])
        total += count_text(model, content_text(body.get("system")))
        if body.get("tools"):
            total += count_text(model, orjson.dumps(body["tools"]).decode())
        return total
    value = body.get("prompt") if endpoint == "completions" else body.get("input")
    if isinstance(value, str):
        return count_text(model, value)
    if isinstance(value, list):
        if value and all(isinstance(v, int) for v in value):
            return len(value)
        return sum(len(v) if isinstance(v, list) else count_text(model, str(v)) for v in value)
    return 0
