"""What every assertion shares: its spec in a suite file, what it sees when it runs, what it returns.

An assertion is written the way promptfoo writes one (``- type: contains``, ``value: ...``,
``threshold: ...``, ``weight: ...``) and parsed into an ``AssertionSpec``. Each type is an
``AssertionType``: a ``validate`` that checks the spec when the suite is loaded (raising
``SpecProblem`` naming the offending key) and an async ``check`` that looks at one answer (a
``Check``) and returns a ``Verdict``: a score in [0, 1], pass or fail, and a reason. A type may
also have a ``check_batch`` that gives the verdicts of many answers at once (``grounded``: one
embedder call for all of them), each the verdict ``check`` gives that answer alone. A check that
cannot reach a verdict (a judge that answered something other than the JSON it was asked for, a
cost nobody knows, a scorer that is not installed) raises ``CheckError``: the assertion is then an
*error*, never a pass.

``AssertionSpec`` itself lives in ``spec.py`` (it checks its ``type`` against the registry of
``registry.py``, which is built from the families, which build on this module).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmgate.evals.assertions.spec import AssertionSpec


class SpecProblem(ValueError):
    """A suite-file problem at ``path`` (keys below the object being validated)."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


class CheckError(Exception):
    """The assertion could not be evaluated: it counts as an error, not as a pass or a fail."""


@dataclass(frozen=True)
class Verdict:
    """What a check found: a score in [0, 1], pass or fail, and why."""

    score: float
    passed: bool
    reason: str = ""


@dataclass(frozen=True)
class Outcome:
    """One assertion's result on one answer, as reports and the store show it."""

    type: str
    passed: bool
    score: float
    weight: float = 1.0
    reason: str = ""
    error: str | None = None
    metric: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "score": round(self.score, 6), "pass": self.passed}
        out["weight"] = self.weight
        if self.reason:
            out["reason"] = self.reason
        if self.error is not None:
            out["error"] = self.error
        if self.metric:
            out["metric"] = self.metric
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Outcome:
        return cls(
            type=str(data.get("type", "?")),
            passed=bool(data.get("pass")),
            score=float(data.get("score") or 0.0),
            weight=float(data.get("weight", 1.0)),
            reason=str(data.get("reason") or ""),
            error=data.get("error"),
            metric=data.get("metric"),
        )


#: ``check(spec, check)``: an assertion type's evaluation of one answer.
CheckFn = Callable[["AssertionSpec", "Check"], Awaitable[Verdict]]
#: ``check_batch(items)``: the verdicts of many ``(spec, check)`` items at once, in order, a
#: ``CheckError`` in place of a verdict that could not be reached. Synchronous: the runner calls it
#: from a worker thread.
BatchCheckFn = Callable[[Sequence[tuple["AssertionSpec", "Check"]]], list[Verdict | CheckError]]
#: ``complete(messages, model, params)``: one chat completion through the gateway, its text.
Complete = Callable[[list[dict[str, str]], str, dict[str, Any]], Awaitable[str]]
#: ``sample(n, temperature)``: ``n`` more answers to the case's own prompt from the model under test.
Sample = Callable[[int, float], Awaitable[list[str]]]


async def _no_calls(*_args: Any) -> Any:  # pragma: no cover - tests build Checks without a client
    raise CheckError("this check needs model calls, and none are available here")


@dataclass(frozen=True)
class Check:
    """Everything an assertion may look at: the answer, the case, and a way to call models."""

    output: str
    question: str = ""
    context: str | None = None  # the passages joined by blank lines
    passages: tuple[str, ...] = ()  # the context as the case gives it, passage by passage
    reference: str | None = None
    vars: Mapping[str, Any] = field(default_factory=dict)
    latency_ms: float | None = None
    cost_usd: Decimal | None = None
    model: str = ""
    judge_model: str | None = None
    complete: Complete = _no_calls
    sample: Sample = _no_calls

    def detached(self) -> Check:
        """This check without its ways to call models: what can be sent to another process (a
        batchable assertion never calls a model)."""
        return replace(self, complete=_no_calls, sample=_no_calls)


def _no_validation(spec: AssertionSpec) -> None:
    return None


@dataclass(frozen=True)
class AssertionType:
    """A named assertion: how to validate its spec and how to check an answer."""

    name: str
    check: CheckFn
    validate: Callable[[AssertionSpec], None] = _no_validation
    summary: str = ""
    needs_context: bool = False  # the case must have ``context``
    needs_reference: bool = False  # the case must have ``reference`` unless the spec has ``value``
    needs_embedder: bool = False  # scores with ``llmgate.quality``'s embedder (the quality extra)
    check_batch: BatchCheckFn | None = None  # many answers at once, each as ``check`` scores it alone


def require_text_value(spec: AssertionSpec) -> None:
    """``value`` must be a non-empty string, or a non-empty list of them."""
    value = spec.value
    if isinstance(value, str) and value:
        return
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return
    raise SpecProblem(("value",), f"{spec.type} needs a value: a string or a list of strings")


def text_values(spec: AssertionSpec) -> list[str]:
    return [spec.value] if isinstance(spec.value, str) else [str(v) for v in spec.value]


def require_threshold_in_unit(spec: AssertionSpec) -> None:
    if spec.threshold is not None and not 0.0 <= spec.threshold <= 1.0:
        raise SpecProblem(("threshold",), f"{spec.type}: threshold must be between 0 and 1")


def clip(score: float) -> float:
    """``score`` limited to [0, 1] (NaN is 0)."""
    if not math.isfinite(score):
        return 0.0
    return min(1.0, max(0.0, score))
