"""The ``--where`` language: which recorded calls a dataset selects, by their fields and scores.

``parse_filter(text)`` reads an expression into a ``RecordFilter``; ``matches(view)`` says whether
one call's view (``view.record_view``) is selected; ``fields`` names what it reads. A bad
expression is a ``FilterError`` (an ``InvalidRequest`` with ``param="where"``): one line saying
at which character, what was found and what was expected. Examples::

    feedback.thumbs = down or groundedness < 0.5
    rating = bad and model in (gpt-4o, gpt-4o-mini) and not tag.env = test
    status = error and (error_type = timeout or latency_ms >= 30000)
    prompt contains "refund" and feedback.thumbs missing

Grammar: ``or`` binds looser than ``and``, which binds looser than ``not`` (keywords in any
case); parentheses group. A condition is one of

- ``FIELD OP VALUE`` with ``OP`` one of ``=`` (or ``==``), ``!=``, ``<``, ``<=``, ``>``, ``>=``;
- ``FIELD in (VALUE, ...)`` and ``FIELD not in (VALUE, ...)``;
- ``FIELD contains TEXT``: ``TEXT`` anywhere in the value, ignoring case;
- ``FIELD exists`` / ``FIELD missing``: the call has a value for the field, or has none (the
  only way to test for a missing value: there is no ``null``).

A ``VALUE`` is a number (``0.5``, ``-1``, ``2e3``), a quoted string (``"..."`` or ``'...'``, with
``\\`` escaping a quote), ``true`` / ``false``, or a bare word taken as text (``down``,
``gpt-4o-mini``, ``chat/completions``); a word that is a keyword (``and``, ``or``, ``not``) must
be quoted.

Fields:

- the call: ``model`` (the alias asked for), ``deployment``, ``provider``, ``upstream_model``,
  ``endpoint`` (``chat/completions``, ``responses``...), ``status`` (``success`` / ``error``),
  ``status_code``, ``error_type``, ``finish_reason``, ``user``, ``team``, ``key`` (the key's id or
  alias), ``stream``, ``cache`` (``hit``, ``semantic-hit``, ``miss``, ``bypass``), ``session_id``,
  ``parent_id``, ``step``, ``canary``, ``arm``; numbers: ``latency_ms``, ``ttft_ms``, ``cost_usd``,
  ``prompt_tokens``, ``completion_tokens``, ``total_tokens``, ``cached_tokens``,
  ``reasoning_tokens``; text: ``prompt`` (the words of every message sent) and ``response`` (the
  answer);
- ``tag.NAME``: a request tag; ``metadata.NAME``: a request metadata value (``metadata.a.b``
  reaches inside an object);
- ``feedback.NAME``: users' feedback named NAME on the call (``POST /v1/feedback`` from a key,
  the master key or anonymously); ``feedback`` alone: users' feedback of any name;
  ``session_feedback.NAME`` (and ``session_feedback``): users' feedback on the call's session;
- ``rating``: the users' combined rating of the call, ``good`` or ``bad``
  (``reports/feedback_rating.py``: any bad rating makes it ``bad``; a session's feedback does
  not rate its calls);
- ``groundedness``, ``context_relevance``, ``answer_relevance``: the retrieval-quality monitor's
  scores (0 to 1);
- ``score.NAME``: a score of the call named NAME from any source (users, the monitor, an eval
  run: ``eval:<run id>``); ``score`` alone: every score of the call.

Meaning, as in SQL: a condition on a field the call has no value for is *unknown*, and so is
``not`` of an unknown; ``and`` is false when either side is false, ``or`` true when either side
is true; only a call whose whole expression is true is selected. So ``groundedness < 0.5``
never selects a call the monitor did not score, and neither does ``not groundedness >= 0.5``.
When a field has several values (two users' thumbs), a condition holds when it holds for any of
them. Comparisons:

- numbers compare as numbers, also against text that is a number (a tag ``"3"``, ``status_code``);
  a number field must be compared with a number;
- text compares ignoring case (``=``, ``in``, and ``<`` / ``>`` in alphabetical order);
- a bool (``stream``, a thumbs score) equals ``true`` / ``false`` and the words that rate: ``up``,
  ``good``, ``yes``... are true, ``down``, ``bad``, ``no``... false (``reports/feedback_rating.py``'s
  lists). On a score field (``feedback``, ``score``, ``rating`` and the monitors') a rating word or
  ``true`` / ``false`` compares with what the score rates: a label ``thumbs_down``, a ``-1`` or a
  ``0.2`` all equal ``down``;
- values that cannot be compared (a word with a number) are not equal (``=`` false, ``!=`` true)
  and not ordered (``<`` unknown).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from llmgate.datasets.conditions import NUMBER, And, Condition, Literal, Not, Or, evaluate, number
from llmgate.datasets.view import MONITOR_FIELDS, NUMERIC_FIELDS, PLAIN_FIELDS, PREFIXES, TEXT_FIELDS
from llmgate.errors import InvalidRequest

__all__ = ["MAX_DEPTH", "MAX_LENGTH", "FilterError", "RecordFilter", "parse_filter", "valid_fields"]

#: the longest expression read (characters) and the deepest nesting of parentheses and ``not``
MAX_LENGTH = 4000
MAX_DEPTH = 64

_TOKEN = re.compile(
    r"""(?P<space>\s+)|(?P<op>==|!=|<=|>=|=|<|>)|(?P<lparen>\()|(?P<rparen>\))|(?P<comma>,)
    |(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<word>[^\s()=!<>,"']+)""",
    re.X | re.S,
)
_KEYWORDS = frozenset({"and", "or", "not"})
_EXPECTED_OP = "an operator (=, !=, <, <=, >, >=, in, not in, contains, exists, missing)"


class FilterError(InvalidRequest):
    """A ``--where`` expression that cannot be read (one line: where, what, what was expected)."""

    param = "where"


def valid_fields() -> list[str]:
    """The field names, as the error for an unknown one lists them."""
    return [
        *PLAIN_FIELDS,
        *TEXT_FIELDS,
        "rating",
        *MONITOR_FIELDS,
        "feedback",
        "session_feedback",
        "score",
        *(f"{prefix}.NAME" for prefix in PREFIXES),
    ]


# --- the tree ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # op | lparen | rparen | comma | string | word | end
    text: str
    pos: int

    def shown(self) -> str:
        return "the end of the expression" if self.kind == "end" else repr(self.text)


@dataclass(frozen=True)
class RecordFilter:
    """A parsed ``--where`` expression; see the module doc."""

    text: str
    root: Any
    fields: frozenset[str]

    def matches(self, view: Mapping[str, Any]) -> bool:
        """Whether the call whose view this is is selected (its expression is true, not unknown)."""
        return evaluate(self.root, view) is True


# --- parsing ----------------------------------------------------------------------------------


def parse_filter(text: str) -> RecordFilter:
    """``text`` as a ``RecordFilter``; a ``FilterError`` naming the place when it cannot be read."""
    if len(text) > MAX_LENGTH:
        raise FilterError(f"where: the expression is longer than {MAX_LENGTH} characters")
    parser = _Parser(_tokens(text))
    if parser.peek().kind == "end":
        raise FilterError("where: the expression is empty; e.g. feedback.thumbs = down or groundedness < 0.5")
    root = parser.expression(0)
    end = parser.peek()
    if end.kind != "end":
        parser.fail(end, "and, or, or the end of the expression")
    return RecordFilter(text=text, root=root, fields=frozenset(parser.fields))


def _tokens(text: str) -> list[_Token]:
    out: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            char = text[pos]
            what = "an unterminated string" if char in "\"'" else f"{char!r}"
            raise FilterError(
                f"where: at character {pos + 1}: {what}; expected a field, a value or an operator"
            )
        kind = match.lastgroup or "space"
        if kind != "space":
            out.append(_Token(kind, match.group(0), pos))
        pos = match.end()
    out.append(_Token("end", "", len(text)))
    return out


class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.index = 0
        self.fields: set[str] = set()

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def take(self) -> _Token:
        token = self.tokens[self.index]
        self.index += token.kind != "end"
        return token

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token.kind == "word" and token.text.lower() == word:
            self.take()
            return True
        return False

    def fail(self, token: _Token, expected: str) -> None:
        raise FilterError(f"where: at character {token.pos + 1} ({token.shown()}): expected {expected}")

    def expression(self, depth: int) -> Any:
        parts = [self.conjunction(depth)]
        while self.keyword("or"):
            parts.append(self.conjunction(depth))
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def conjunction(self, depth: int) -> Any:
        parts = [self.negation(depth)]
        while self.keyword("and"):
            parts.append(self.negation(depth))
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def negation(self, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise FilterError(f"where: nested deeper than {MAX_DEPTH} parentheses or nots")
        if self.keyword("not"):
            return Not(self.negation(depth + 1))
        token = self.peek()
        if token.kind == "lparen":
            self.take()
            inner = self.expression(depth + 1)
            if self.peek().kind != "rparen":
                self.fail(self.peek(), "')' to close the '(' at character " + str(token.pos + 1))
            self.take()
            return inner
        return self.condition()

    def condition(self) -> Any:
        field = self.field()
        token = self.take()
        word = token.text.lower() if token.kind == "word" else ""
        if token.kind == "op":
            op = "=" if token.text == "==" else token.text
            return self.checked(field, op, (self.value(f"a value after {field} {token.text}"),))
        if word in ("exists", "missing"):
            return Condition(field, word)
        if word == "contains":
            value = self.value(f"a text after {field} contains")
            return self.checked(field, "contains", (value,))
        if word == "in":
            return self.checked(field, "in", self.value_list(field))
        if word == "not" and self.keyword("in"):
            return Not(self.checked(field, "in", self.value_list(field)))
        if word == "is":
            self.fail(token, f"{field} exists or {field} missing (there is no 'is null')")
        self.fail(token, f"{_EXPECTED_OP} after {field}")
        raise AssertionError  # pragma: no cover - fail raises

    def field(self) -> str:
        token = self.take()
        if token.kind != "word" or token.text.lower() in _KEYWORDS:
            self.fail(token, "a field name (e.g. model, feedback.thumbs, groundedness), 'not' or '('")
        text = token.text
        head, dot, name = text.partition(".")
        lowered = text.lower()
        if not dot and lowered in {
            *PLAIN_FIELDS,
            *TEXT_FIELDS,
            *MONITOR_FIELDS,
            "rating",
            "feedback",
            "session_feedback",
            "score",
        }:
            field = lowered
        elif dot and head.lower() in PREFIXES and name:
            field = f"{head.lower()}.{name}"
        else:
            raise FilterError(
                f"where: at character {token.pos + 1}: unknown field {text!r}; "
                f"the fields are {', '.join(valid_fields())}"
            )
        self.fields.add(field)
        return field

    def value(self, expected: str) -> Literal:
        token = self.take()
        if token.kind == "string":
            return re.sub(r"\\(.)", r"\1", token.text[1:-1], flags=re.S)
        if token.kind != "word" or token.text.lower() in _KEYWORDS:
            self.fail(
                token, expected + (" (quote a keyword used as a value)" if token.kind == "word" else "")
            )
        lowered = token.text.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        if lowered in ("null", "none"):
            self.fail(token, f"{expected}; to test for no value write FIELD missing (or FIELD exists)")
        if NUMBER.match(token.text):
            parsed = float(token.text)
            if math.isfinite(parsed):
                return parsed
        return token.text

    def value_list(self, field: str) -> tuple[Literal, ...]:
        if self.peek().kind != "lparen":
            self.fail(self.peek(), f"'(' and a list of values after {field} in")
        self.take()
        values = [self.value(f"a value in the list of {field} in (...)")]
        while self.peek().kind == "comma":
            self.take()
            values.append(self.value(f"a value after ',' in the list of {field} in (...)"))
        if self.peek().kind != "rparen":
            self.fail(self.peek(), f"',' or ')' in the list of {field} in (...)")
        self.take()
        return tuple(values)

    def checked(self, field: str, op: str, values: tuple[Literal, ...]) -> Condition:
        if field in NUMERIC_FIELDS:
            bad = [v for v in values if isinstance(v, bool) or number(v) is None]
            if op == "contains" or bad:
                shown = "contains" if op == "contains" else repr(bad[0])
                token = self.tokens[self.index - 1]
                raise FilterError(
                    f"where: at character {token.pos + 1}: {field} is a number; "
                    f"compare it with a number (=, <, in, ...), got {shown}"
                )
        return Condition(field, op, values)
