"""String assertions: ``equals``, ``contains`` and its variants, ``regex``.

All score 1 or 0. ``contains`` / ``icontains`` with a list of values need every one of them;
``contains_any`` / ``icontains_any`` need one; ``not_contains`` needs none (case-insensitive, as a
"must not mention" check is meant). ``equals`` compares the answer and the value with surrounding
whitespace stripped; when the value is a mapping, a list or a number it compares the answer parsed
as JSON instead. ``regex`` searches the answer (Python syntax; ``(?i)`` for case-insensitive).
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from llmgate.evals.assertions.base import (
    AssertionType,
    Check,
    CheckFn,
    SpecProblem,
    Verdict,
    require_text_value,
    text_values,
)

if TYPE_CHECKING:
    from llmgate.evals.assertions.spec import AssertionSpec


def _shorten(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _validate_equals(spec: AssertionSpec) -> None:
    if spec.value is None:
        raise SpecProblem(("value",), "equals needs a value")


async def _equals(spec: AssertionSpec, check: Check) -> Verdict:
    expected = spec.value
    if isinstance(expected, str):
        ok = check.output.strip() == expected.strip()
        return Verdict(float(ok), ok, "" if ok else f"expected exactly {_shorten(expected)!r}")
    try:
        parsed = json.loads(check.output)
    except ValueError:
        return Verdict(0.0, False, "the answer is not JSON")
    ok = bool(parsed == expected)
    return Verdict(float(ok), ok, "" if ok else "the answer's JSON differs from the value")


def _contains(*, fold: bool, need: str) -> CheckFn:
    async def check_contains(spec: AssertionSpec, check: Check) -> Verdict:
        output = check.output.casefold() if fold else check.output
        values = text_values(spec)
        found = [v for v in values if (v.casefold() if fold else v) in output]
        missing = [v for v in values if v not in found]
        if need == "all":
            ok = not missing
            reason = "" if ok else f"missing {', '.join(repr(_shorten(v)) for v in missing)}"
        elif need == "any":
            ok = bool(found)
            reason = "" if ok else f"none of {', '.join(repr(_shorten(v)) for v in values)}"
        else:  # none
            ok = not found
            reason = "" if ok else f"mentions {', '.join(repr(_shorten(v)) for v in found)}"
        return Verdict(float(ok), ok, reason)

    return check_contains


def _validate_regex(spec: AssertionSpec) -> None:
    if not isinstance(spec.value, str) or not spec.value:
        raise SpecProblem(("value",), "regex needs a value: a regular expression")
    try:
        re.compile(spec.value)
    except re.error as exc:
        raise SpecProblem(("value",), f"invalid regular expression: {exc}") from None


async def _regex(spec: AssertionSpec, check: Check) -> Verdict:
    ok = re.search(str(spec.value), check.output) is not None
    return Verdict(float(ok), ok, "" if ok else f"no match for /{_shorten(str(spec.value))}/")


TYPES = (
    AssertionType("equals", _equals, _validate_equals, "the answer is exactly the value"),
    AssertionType(
        "contains", _contains(fold=False, need="all"), require_text_value, "the answer contains the value(s)"
    ),
    AssertionType(
        "icontains",
        _contains(fold=True, need="all"),
        require_text_value,
        "contains, ignoring case",
    ),
    AssertionType(
        "contains_any",
        _contains(fold=False, need="any"),
        require_text_value,
        "the answer contains one of the values",
    ),
    AssertionType(
        "icontains_any",
        _contains(fold=True, need="any"),
        require_text_value,
        "contains_any, ignoring case",
    ),
    AssertionType(
        "not_contains",
        _contains(fold=True, need="none"),
        require_text_value,
        "the answer mentions none of the values (ignoring case)",
    ),
    AssertionType("regex", _regex, _validate_regex, "the answer matches the regular expression"),
)
