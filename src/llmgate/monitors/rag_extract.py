"""Finding a RAG request's question, retrieved passages and answer in its record.

The retrieval-quality monitor (``rag_quality.py``) scores what ``extract_rag`` finds here; this
module is pure Python (regular expressions and JSON), with no model.

``extract_rag`` finds the question, the retrieved passages and the answer in a recorded
   request. The passages come from the first of the configured ``ContextSources`` that has any:

   - ``metadata``: ``metadata[metadata_key]`` (``"context"`` by default), a string (one
     passage) or a list of strings or of objects with a ``text``, ``content`` or
     ``page_content`` string (LangChain and LlamaIndex documents dumped as JSON);
   - ``header``: the ``x-llmgate-context`` request header, kept by the gateway for the worker.
     A header holds no newline, so it is a JSON array of passages (as above), else a plain
     string taken as one passage;
   - ``tool``: the ``tool`` (and legacy ``function``) messages of the current turn, i.e. after
     the last user message, which the final answer follows; their content is taken as it is
     (JSON stays text);
   - ``delimited``: sections between a configured pair of delimiters (``<context>`` …
     ``</context>``, ``<documents>`` … ``</documents>``, ``<<<CONTEXT>>>`` … ``<<<END CONTEXT>>>``
     by default, matched without regard to case) in the system (or developer) messages, the
     last user message, or a completions ``prompt``. A section is cut into passages by the
     first rule that applies: ``<document>``/``<doc>``/``<passage>``/``<source>``/``<chunk>``
     elements; markers opening a line (``[1]``, ``(1)``, ``Document 1:``, ``Passage 2.``,
     ``Source #3 -``); blank lines or separator lines (``---``); numbered lines (``1.``,
     ``2)``), when there are at least two; else the whole section is one passage.

   The question is the last user message (or the completions prompt) with every delimited
   section removed, whatever source found the passages, and tidied: lines that only label a
   section ("Context:", "Documents:", a trailing "Answer:") are dropped, a "Question:" label
   is removed, and so are sentences that only tell the model to use the context ("Answer
   using only the documents above.") and lead-ins like "Based on the context, ", as long as
   something is left. A request without an answer (an error, an empty response) or without
   passages gives ``None``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from llmgate.errors import ConfigError
from llmgate.protocol.message_text import message_text
from llmgate.quality.text import split_sentences

__all__ = [
    "DEFAULT_DELIMITERS",
    "HEADER_KEY",
    "SOURCES",
    "ContextSources",
    "RagExample",
    "extract_rag",
    "find_context",
    "split_passages",
]

#: The metadata key under which the gateway records the ``x-llmgate-context`` header for the worker.
HEADER_KEY = "x-llmgate-context"
#: Where a request's retrieved context can be found, in the default order.
SOURCES = ("metadata", "header", "tool", "delimited")
DEFAULT_DELIMITERS: tuple[tuple[str, str], ...] = (
    ("<context>", "</context>"),
    ("<documents>", "</documents>"),
    ("<<<CONTEXT>>>", "<<<END CONTEXT>>>"),
)
#: Fields of a passage object that hold its text, in order of preference.
_TEXT_FIELDS = ("text", "content", "page_content")
_TOOL_ROLES = frozenset({"tool", "function"})
_SYSTEM_ROLES = frozenset({"system", "developer"})

_DOC_ELEMENT = re.compile(r"<(document|doc|passage|source|chunk)\b[^>]*>(.*?)</\1\s*>", re.S | re.I)
_MARKER = re.compile(
    r"^[ \t]*(?:\[\d{1,3}\]|\(\d{1,3}\)|(?:document|doc|passage|source|chunk|result)\s*#?\s*\d{1,3}"
    r"\s*[:.)\]-])[ \t]*",
    re.I | re.M,
)
_NUMBERED = re.compile(r"^[ \t]*\d{1,3}[.)][ \t]+", re.M)
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*(?:[-=*_]{3,}[ \t]*)?\n|\n[ \t]*[-=*_]{3,}[ \t]*(?=\n|$)")
_SECTION_WORDS = (
    r"(?:context|contexts|documents?|docs|passages?|sources?|references?|retrieved[\w ]{0,20}|"
    r"information|knowledge|excerpts?|search results?)"
)
_LABEL_LINE = re.compile(rf"^[ \t]*(?:{_SECTION_WORDS}|answer|a)[ \t]*:?[ \t]*$", re.I | re.M)
_QUESTION_LABEL = re.compile(r"^[ \t]*(?:question|query|q|user question)[ \t]*:[ \t]*", re.I | re.M)
_SOURCE_REF = (
    rf"(?:the\s+|these\s+|this\s+)?(?:above\s+|provided\s+|given\s+|following\s+|retrieved\s+|below\s+)?"
    rf"{_SECTION_WORDS}(?:\s+(?:above|below|provided|given))?"
)
_LEAD_IN = re.compile(
    rf"^\s*(?:based\s+(?:only\s+)?on|according\s+to|using|given|from)\s+{_SOURCE_REF}\s*[,:]\s*", re.I
)
_INSTRUCTION = re.compile(
    rf"^\s*(?:please\s+)?(?:answer|use|using|respond|reply|refer|consult|read|only\s+use|rely|base|"
    rf"based|you\s+(?:are|must|should|will)|do\s+not|don't)\b.*\b{_SOURCE_REF}\b",
    re.I | re.S,
)


# --- configuration ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContextSources:
    """Where to look for a request's retrieved context, in order; see the module doc.

    ``sources`` are tried in order and the first that finds passages wins; ``metadata_key`` is
    the request metadata field of the ``metadata`` source; ``delimiters`` are the (start, end)
    pairs of the ``delimited`` source.
    """

    sources: tuple[str, ...] = SOURCES
    metadata_key: str = "context"
    delimiters: tuple[tuple[str, str], ...] = DEFAULT_DELIMITERS

    def __post_init__(self) -> None:
        unknown = [s for s in self.sources if s not in SOURCES]
        if unknown:
            raise ConfigError(f"unknown context sources {unknown}; choose from {', '.join(SOURCES)}")
        if len(set(self.sources)) != len(self.sources):
            raise ConfigError(f"context sources are listed twice: {list(self.sources)}")
        if not self.metadata_key:
            raise ConfigError("the context metadata_key must not be empty")
        for pair in self.delimiters:
            if len(pair) != 2 or not all(isinstance(p, str) and p.strip() for p in pair):
                raise ConfigError(f"a context delimiter is a pair of non-empty strings, got {pair!r}")

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> ContextSources:
        """From configuration: ``sources`` (a list), ``metadata_key``, ``delimiters`` (pairs)."""
        unknown = set(mapping) - {"sources", "metadata_key", "delimiters"}
        if unknown:
            raise ConfigError(f"unknown context-source settings: {', '.join(sorted(unknown))}")
        kwargs: dict[str, Any] = {}
        if "sources" in mapping:
            sources = mapping["sources"]
            if isinstance(sources, str) or not isinstance(sources, Sequence):
                raise ConfigError(f"context sources must be a list, got {sources!r}")
            kwargs["sources"] = tuple(str(s) for s in sources)
        if "metadata_key" in mapping:
            kwargs["metadata_key"] = str(mapping["metadata_key"])
        if "delimiters" in mapping:
            pairs = mapping["delimiters"]
            if isinstance(pairs, str) or not isinstance(pairs, Sequence):
                raise ConfigError(f"context delimiters must be a list of [start, end] pairs, got {pairs!r}")
            kwargs["delimiters"] = tuple(_pair(p) for p in pairs)
        return cls(**kwargs)


def _pair(value: Any) -> tuple[str, str]:
    if isinstance(value, str) or not isinstance(value, Sequence) or len(value) != 2:
        raise ConfigError(f"a context delimiter is a [start, end] pair, got {value!r}")
    return (value[0], value[1])


# --- extraction ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RagExample:
    """A RAG request as the scorers see it."""

    question: str
    passages: tuple[str, ...]
    answer: str
    #: The source that found the passages: metadata | header | tool | delimited.
    source: str


def extract_rag(
    request: Mapping[str, Any],
    *,
    response_text: str | None,
    metadata: Mapping[str, Any] | None,
    header_context: str | None,
    sources: ContextSources,
) -> RagExample | None:
    """The question, passages and answer of a recorded request, or None; see the module doc."""
    answer = (response_text or "").strip()
    if not answer:
        return None
    messages = _messages(request)
    last_user = _last_index(messages, {"user"})
    if messages:
        raw_question = message_text(messages[last_user].get("content")) if last_user is not None else ""
    else:
        raw_question = _prompt(request)
    question = _clean_question(raw_question, sources.delimiters)
    if not question:
        return None
    found = _find(request, messages, last_user, metadata, header_context, sources)
    if found is None:
        return None
    return RagExample(question=question, passages=found[1], answer=answer, source=found[0])


def find_context(
    request: Mapping[str, Any],
    *,
    metadata: Mapping[str, Any] | None,
    header_context: str | None,
    sources: ContextSources,
) -> tuple[str, tuple[str, ...]] | None:
    """(source, passages) of a recorded request's retrieved context, found as ``extract_rag``
    finds it (the first of ``sources`` with any), whether or not the request has an answer."""
    messages = _messages(request)
    return _find(request, messages, _last_index(messages, {"user"}), metadata, header_context, sources)


def _find(
    request: Mapping[str, Any],
    messages: list[Mapping[str, Any]],
    last_user: int | None,
    metadata: Mapping[str, Any] | None,
    header_context: str | None,
    sources: ContextSources,
) -> tuple[str, tuple[str, ...]] | None:
    for source in sources.sources:
        passages: tuple[str, ...] = ()
        if source == "metadata" and metadata is not None:
            passages = _passages(metadata.get(sources.metadata_key))
        elif source == "header" and header_context:
            passages = _header_passages(header_context)
        elif source == "tool":
            passages = _tool_passages(messages, last_user)
        elif source == "delimited":
            passages = _delimited_passages(messages, last_user, _prompt(request), sources.delimiters)
        if passages:
            return source, passages
    return None


def split_passages(section: str) -> tuple[str, ...]:
    """Cut a delimited context section into passages, by the first rule that applies (module doc)."""
    elements = [m.group(2).strip() for m in _DOC_ELEMENT.finditer(section)]
    if any(elements):
        return tuple(e for e in elements if e)
    markers = list(_MARKER.finditer(section))
    if markers:
        preamble = section[: markers[0].start()].strip()
        pieces = [
            section[m.end() : nxt.start() if nxt is not None else len(section)]
            for m, nxt in zip(markers, [*markers[1:], None], strict=True)
        ]
        if preamble and not (preamble.endswith(":") and "\n" not in preamble):
            pieces.insert(0, preamble)
        return _nonempty(pieces)
    paragraphs = _nonempty(_PARAGRAPH_BREAK.split(section))
    if len(paragraphs) > 1:
        return paragraphs
    numbered = list(_NUMBERED.finditer(section))
    if len(numbered) >= 2:
        pieces = [
            section[m.end() : nxt.start() if nxt is not None else len(section)]
            for m, nxt in zip(numbered, [*numbered[1:], None], strict=True)
        ]
        preamble = section[: numbered[0].start()].strip()
        if preamble and not preamble.endswith(":"):
            pieces.insert(0, preamble)
        return _nonempty(pieces)
    return _nonempty([section])


def _nonempty(pieces: Sequence[str]) -> tuple[str, ...]:
    return tuple(p.strip() for p in pieces if p and p.strip())


def _messages(request: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    messages = request.get("messages")
    if not isinstance(messages, list):
        return []
    return [m for m in messages if isinstance(m, Mapping)]


def _last_index(messages: list[Mapping[str, Any]], roles: set[str]) -> int | None:
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].get("role") in roles:
            return i
    return None


def _prompt(request: Mapping[str, Any]) -> str:
    """A completions request's prompt: a string, or the first string of a list."""
    prompt = request.get("prompt")
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list) and prompt and isinstance(prompt[0], str):
        return prompt[0]
    return ""


def _passages(value: Any) -> tuple[str, ...]:
    """Passages from a metadata value or a parsed header: a string, an object, or a list of either."""
    if isinstance(value, str):
        return _nonempty([value])
    if isinstance(value, Mapping):
        for key in _TEXT_FIELDS:
            text = value.get(key)
            if isinstance(text, str):
                return _nonempty([text])
        return ()
    if isinstance(value, list | tuple):
        return tuple(p for item in value if not isinstance(item, list | tuple) for p in _passages(item))
    return ()


def _header_passages(header: str) -> tuple[str, ...]:
    try:
        parsed = json.loads(header)
    except ValueError:
        return _nonempty([header])
    if isinstance(parsed, str | list | Mapping):
        return _passages(parsed)
    return _nonempty([header])  # a bare number or true: the header's text as it came


def _tool_passages(messages: list[Mapping[str, Any]], last_user: int | None) -> tuple[str, ...]:
    turn = messages[last_user + 1 :] if last_user is not None else messages
    return _nonempty([message_text(m.get("content")) for m in turn if m.get("role") in _TOOL_ROLES])


def _sections(text: str, delimiters: Sequence[tuple[str, str]]) -> list[re.Match[str]]:
    found: list[re.Match[str]] = []
    for start, end in delimiters:
        pattern = re.compile(rf"{re.escape(start)}(.*?){re.escape(end)}", re.S | re.I)
        found.extend(pattern.finditer(text))
    found.sort(key=lambda m: m.start())
    kept: list[re.Match[str]] = []
    for match in found:  # a section inside another one is part of it
        if not kept or match.start() >= kept[-1].end():
            kept.append(match)
    return kept


def _delimited_passages(
    messages: list[Mapping[str, Any]],
    last_user: int | None,
    prompt: str,
    delimiters: Sequence[tuple[str, str]],
) -> tuple[str, ...]:
    texts = [
        message_text(m.get("content"))
        for i, m in enumerate(messages)
        if m.get("role") in _SYSTEM_ROLES or i == last_user
    ]
    if not messages:
        texts = [prompt]
    return tuple(
        p for text in texts for match in _sections(text, delimiters) for p in split_passages(match.group(1))
    )


def _clean_question(text: str, delimiters: Sequence[tuple[str, str]]) -> str:
    """The question without its context sections, section labels and instructions to use them."""
    for match in reversed(_sections(text, delimiters)):
        text = text[: match.start()] + "\n" + text[match.end() :]
    text = _LABEL_LINE.sub("", text)
    text = _QUESTION_LABEL.sub("", text)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    text = "\n".join(lines)
    kept = []
    for line in lines:
        sentences = [s for s in split_sentences(line) if not _is_instruction(s)]
        if sentences:
            kept.append(" ".join(sentences))
    cleaned = "\n".join(kept) or text
    stripped = _LEAD_IN.sub("", cleaned, count=1)
    return (stripped[:1].upper() + stripped[1:] if stripped else cleaned).strip()


def _is_instruction(sentence: str) -> bool:
    """A sentence telling the model to use the context ("Answer using the documents above.")."""
    return not sentence.rstrip().endswith("?") and bool(_INSTRUCTION.match(sentence))
