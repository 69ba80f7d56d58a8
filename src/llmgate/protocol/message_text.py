"""The text of a message, in one place: what every reader of chat messages takes as its words.

A message's ``content`` is a string, a list of content parts, or absent (``None``, e.g. an
assistant message that only calls tools). Of a list, the parts that carry words count: ``text``
parts (``input_text`` and ``output_text`` as the Responses API spells them, and a part with a
``text`` string and no ``type``), ``refusal`` parts (an assistant's refusal is what it said), and
bare strings. Image, audio and file parts carry no words and are left out. The pieces are joined
with a newline, so two parts never run into one word. Anything else (a number, an object) has no
text. Token counts, the mock provider's echo, drift and retrieval-quality samples and the
dashboard all read messages through ``message_text``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["TEXT_PART_TYPES", "message_text"]

#: content-part types whose ``text`` is words
TEXT_PART_TYPES = frozenset({"text", "input_text", "output_text"})


def _part_text(part: Any) -> str | None:
    if isinstance(part, str):
        return part
    if not isinstance(part, Mapping):
        return None
    kind = part.get("type", "text")
    if kind in TEXT_PART_TYPES and isinstance(part.get("text"), str):
        return str(part["text"])
    if kind == "refusal" and isinstance(part.get("refusal"), str):
        return str(part["refusal"])
    return None


def message_text(content: Any) -> str:
    """The words of a message's ``content``: a string as it is, the text of a list's text and
    refusal parts joined by newlines, and ``""`` for anything else (``None``, images only)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list | tuple):
        return "\n".join(text for text in map(_part_text, content) if text is not None)
    return ""
