"""The tree of a ``--where`` expression and its meaning: SQL's three-valued logic over a record view.

``filter.py`` parses an expression into these nodes (and documents the language for users);
``evaluate(node, view)`` gives ``True``, ``False`` or ``None`` (unknown) for one call's view
(``view.record_view``): a condition on a missing value is unknown, ``not`` keeps it unknown,
``and`` / ``or`` combine as in SQL; a field with several values satisfies a condition when any
of them does. The comparison rules (numbers as numbers, text ignoring case, rating words against
bools and scores) are listed in ``filter.py``'s doc.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from llmgate.datasets.view import SCORE_FIELDS
from llmgate.reports.feedback_rating import BAD_LABELS, GOOD_LABELS, rating_of

__all__ = ["And", "Condition", "Literal", "Not", "Or", "evaluate", "number"]

Literal = str | float | bool

NUMBER = re.compile(r"^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$")
_TRUE_WORDS = GOOD_LABELS | {"true"}
_FALSE_WORDS = BAD_LABELS | {"false"}


@dataclass(frozen=True, slots=True)
class Or:
    """Any part true."""

    parts: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Not:
    """The part false (unknown stays unknown)."""

    part: Any


@dataclass(frozen=True, slots=True)
class And:
    """Every part true."""

    parts: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Condition:
    """``field op values``; ``op``: ``= != < <= > >=``, ``in``, ``contains``, ``exists``, ``missing``."""

    field: str
    op: str
    values: tuple[Literal, ...] = ()


def evaluate(node: Any, view: Mapping[str, Any]) -> bool | None:
    """``node`` on one call's view: ``True``, ``False`` or ``None`` for unknown."""
    if isinstance(node, Condition):
        return _condition(node, view)
    if isinstance(node, Not):
        inner = evaluate(node.part, view)
        return None if inner is None else not inner
    results = [evaluate(part, view) for part in node.parts]
    decisive = isinstance(node, Or)  # True decides an or, False an and
    if decisive in results:
        return decisive
    return None if None in results else not decisive


def _condition(node: Condition, view: Mapping[str, Any]) -> bool | None:
    raw = view.get(node.field)
    values = raw if isinstance(raw, tuple) else () if raw is None else (raw,)
    if node.op in ("exists", "missing"):
        return bool(values) == (node.op == "exists")
    if not values:
        return None
    scored = node.field.partition(".")[0] in SCORE_FIELDS
    results = [_one(value, node, scored) for value in values]
    if True in results:
        return True
    return False if False in results else None


def _one(value: Any, node: Condition, scored: bool) -> bool | None:
    if node.op == "contains":
        return str(node.values[0]).casefold() in _text(value).casefold()
    if node.op == "in":
        return any(_compare(value, "=", literal, scored) for literal in node.values)
    return _compare(value, node.op, node.values[0], scored)


def _compare(value: Any, op: str, literal: Literal, scored: bool) -> bool | None:
    if op in ("=", "!="):
        wanted = _polarity(literal, None)
        if wanted is not None and (scored or isinstance(value, bool) or isinstance(literal, bool)):
            got = _polarity(value, scored)
            if got is not None:
                return (got == wanted) == (op == "=")
    order = _order(value, literal)
    if order is None:
        return None if op not in ("=", "!=") else op == "!="
    return {
        "=": order == 0,
        "!=": order != 0,
        "<": order < 0,
        "<=": order <= 0,
        ">": order > 0,
        ">=": order >= 0,
    }[op]


def _polarity(value: Any, scored: bool | None) -> bool | None:
    """True / False for what a value rates (a bool, a rating word; a score's number when
    ``scored``), ``None`` when it rates nothing. A literal (``scored`` None) never rates by number."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = value.strip().lower()
        return True if word in _TRUE_WORDS else False if word in _FALSE_WORDS else None
    if scored and isinstance(value, int | float):
        rating = rating_of("number", float(value), None)
        return None if rating is None else rating == "good"
    return None


def _order(value: Any, literal: Literal) -> int | None:
    """-1, 0 or 1 as ``value`` is below, equal to or above ``literal``; None: not comparable."""
    if isinstance(value, bool) and isinstance(literal, bool):
        return int(value) - int(literal)
    if isinstance(value, str) and isinstance(literal, str):
        left, right = value.casefold(), literal.casefold()
        return (left > right) - (left < right)
    a, b = number(value), number(literal)
    if a is None or b is None:
        return None
    return (a > b) - (a < b)


def number(value: Any) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and NUMBER.match(value.strip()):
        number = float(value)
        return number if math.isfinite(number) else None
    return None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
