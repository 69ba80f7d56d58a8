"""The assertion types a suite may use, one module per family, and ``evaluate`` to run one.

Types are named as promptfoo names them where promptfoo has them; promptfoo's spellings are
accepted too (``not-contains``, ``llm-rubric``, ``latency``, ``cost``, ``context-faithfulness``,
``answer-relevance``, ``is-json``): a hyphen is read as an underscore.

- ``text``: equals, contains, icontains, contains_any, icontains_any, not_contains, regex
- ``json_schema``: json_schema, is_json
- ``similarity``: similar, self_consistency (embeddings)
- ``grounding``: grounded, answer_relevance (offline scorers from ``llmgate.quality``)
- ``judge``: llm_judge
- ``budget``: max_latency_ms, max_cost_usd

``base`` holds what the families share, ``registry`` the table of types built from the families,
``spec`` the ``AssertionSpec`` parsed against that table. ``evaluate`` runs one assertion on one
answer; ``evaluate_batch`` runs one batchable type (``batchable``) on many answers at once, with
the same outcomes.
"""

from __future__ import annotations

from collections.abc import Sequence

from llmgate.evals.assertions.base import (
    AssertionType,
    Check,
    CheckError,
    Outcome,
    SpecProblem,
    Verdict,
    clip,
)
from llmgate.evals.assertions.registry import ASSERTIONS, KNOWN_TYPES, canonical_type
from llmgate.evals.assertions.spec import AssertionSpec

__all__ = [
    "ASSERTIONS",
    "KNOWN_TYPES",
    "AssertionSpec",
    "AssertionType",
    "Check",
    "CheckError",
    "Outcome",
    "SpecProblem",
    "Verdict",
    "batchable",
    "canonical_type",
    "evaluate",
    "evaluate_batch",
]


async def evaluate(spec: AssertionSpec, check: Check) -> Outcome:
    """Run one assertion on one answer. An assertion that cannot decide is an error, never a pass."""
    kind = ASSERTIONS[spec.type]
    try:
        verdict = await kind.check(spec, check)
    except Exception as exc:  # a CheckError, or a scorer's own bug: it must not take the run down
        return _failed(spec, exc)
    return _outcome(spec, verdict)


def batchable(spec: AssertionSpec) -> bool:
    """Can ``spec``'s type check many answers at once (``evaluate_batch``)?"""
    return ASSERTIONS[spec.type].check_batch is not None


def evaluate_batch(items: Sequence[tuple[AssertionSpec, Check]]) -> list[Outcome]:
    """The outcomes of many answers under assertions of one batchable type, in order: each the one
    ``evaluate`` gives alone. Synchronous (run it off the event loop). A batch that raises is
    scored again item by item, so that an error stays with the answer that caused it."""
    if not items:
        return []
    kinds = {spec.type for spec, _ in items}
    if len(kinds) != 1:
        raise ValueError(f"evaluate_batch takes one assertion type at a time, got {', '.join(sorted(kinds))}")
    check_batch = ASSERTIONS[items[0][0].type].check_batch
    if check_batch is None:
        raise ValueError(f"{items[0][0].type} cannot check answers in batches")
    try:
        verdicts = check_batch(items)
    except Exception as exc:  # a scorer's own bug must not take the whole run down
        if len(items) == 1:
            return [_failed(items[0][0], exc)]
        return [outcome for item in items for outcome in evaluate_batch([item])]
    return [
        _failed(spec, verdict) if isinstance(verdict, CheckError) else _outcome(spec, verdict)
        for (spec, _), verdict in zip(items, verdicts, strict=True)
    ]


def _outcome(spec: AssertionSpec, verdict: Verdict) -> Outcome:
    return Outcome(
        spec.type, verdict.passed, clip(verdict.score), spec.weight, verdict.reason, metric=spec.metric
    )


def _failed(spec: AssertionSpec, exc: Exception) -> Outcome:
    message = str(exc) if isinstance(exc, CheckError) else f"{type(exc).__name__}: {exc}"
    return Outcome(spec.type, False, 0.0, spec.weight, error=message, metric=spec.metric)
