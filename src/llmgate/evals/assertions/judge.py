"""``llm_judge``: a rubric scored by a judge model, called through the gateway like any client.

The rubric is ``rubric`` (or ``value``, as promptfoo's ``llm-rubric`` writes it). The judge is
``model`` (or ``provider``), else the suite's ``defaults.judge_model``, else the model under test.
It is asked, at temperature 0, for one JSON object and nothing else::

    {"score": <number from 0 to 1>, "reason": "<one sentence>"}

and its answer is parsed strictly: exactly that object (whitespace around it is fine), ``score`` a
number in [0, 1] (not a boolean, not a string), ``reason`` a string, no other keys. Anything else
(prose around the JSON, a code fence, a score of 7, a missing reason) makes the assertion an
*error*, never a pass: a judge that cannot follow the format cannot be trusted with the verdict.
Passes at ``threshold`` (default 0.5).
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from llmgate.evals.assertions.base import (
    AssertionType,
    Check,
    CheckError,
    SpecProblem,
    Verdict,
    require_threshold_in_unit,
)

if TYPE_CHECKING:
    from llmgate.evals.assertions.spec import AssertionSpec

JUDGE_THRESHOLD = 0.5

JUDGE_SYSTEM = (
    "You are a strict, impartial grader of answers written by an AI assistant. You are given a "
    "rubric, the question the assistant was asked, its answer, and possibly a reference answer and "
    "the context it was given. Judge the answer against the rubric only. Respond with exactly one "
    'JSON object and nothing else, no code fence: {"score": <a number from 0 to 1, where 1 fully '
    'meets the rubric and 0 does not meet it at all>, "reason": "<one short sentence>"}'
)


def rubric_of(spec: AssertionSpec) -> str:
    return spec.rubric if spec.rubric is not None else str(spec.value)


def _validate(spec: AssertionSpec) -> None:
    rubric = spec.rubric if spec.rubric is not None else spec.value
    if not isinstance(rubric, str) or not rubric.strip():
        raise SpecProblem(("rubric",), "llm_judge needs a rubric (rubric: or value:)")
    if spec.rubric is not None and spec.value is not None:
        raise SpecProblem(("value",), "llm_judge takes the rubric in rubric: or in value:, not both")
    require_threshold_in_unit(spec)


def judge_messages(rubric: str, check: Check) -> list[dict[str, str]]:
    """The judge's prompt for one answer."""
    parts = [f"<rubric>\n{rubric.strip()}\n</rubric>"]
    if check.question:
        parts.append(f"<question>\n{check.question.strip()}\n</question>")
    if check.context:
        parts.append(f"<context>\n{check.context.strip()}\n</context>")
    if check.reference:
        parts.append(f"<reference_answer>\n{check.reference.strip()}\n</reference_answer>")
    parts.append(f"<answer>\n{check.output.strip()}\n</answer>")
    parts.append('Grade the answer. Reply with only {"score": ..., "reason": ...}.')
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": "\n\n".join(parts)}]


def parse_verdict(text: str) -> tuple[float, str]:
    """``(score, reason)`` from the judge's answer; ``CheckError`` unless it is exactly the JSON asked for."""
    shown = " ".join(text.split())[:120]

    def refuse(problem: str) -> CheckError:
        return CheckError(f"judge verdict rejected: {problem}; got {shown!r}")

    try:
        data: Any = json.loads(text.strip(), parse_constant=_no_constants)
    except ValueError:
        raise refuse("not a JSON object") from None
    if not isinstance(data, dict):
        raise refuse("not a JSON object")
    extra = sorted(set(data) - {"score", "reason"})
    if extra:
        raise refuse(f"unexpected key(s) {', '.join(map(repr, extra))}")
    if "score" not in data or "reason" not in data:
        raise refuse("needs both score and reason")
    score, reason = data["score"], data["reason"]
    if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score):
        raise refuse("score is not a number")
    if not 0.0 <= score <= 1.0:
        raise refuse("score is outside 0..1")
    if not isinstance(reason, str):
        raise refuse("reason is not a string")
    return float(score), reason


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


async def _llm_judge(spec: AssertionSpec, check: Check) -> Verdict:
    judge = spec.model or spec.provider or check.judge_model or check.model
    if not judge:
        raise CheckError("no judge model: set model: on the assertion or defaults.judge_model")
    answer = await check.complete(judge_messages(rubric_of(spec), check), judge, {"temperature": 0})
    score, reason = parse_verdict(answer)
    threshold = spec.threshold_or(JUDGE_THRESHOLD)
    return Verdict(score, score >= threshold, reason)


TYPES = (
    AssertionType(
        "llm_judge", _llm_judge, _validate, "a judge model scores the answer against a rubric (0..1)"
    ),
)
