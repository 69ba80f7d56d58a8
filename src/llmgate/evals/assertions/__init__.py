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
``spec`` the ``AssertionSpec`` parsed against that table.
"""

from __future__ import annotations

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
    "canonical_type",
    "evaluate",
]


async def evaluate(spec: AssertionSpec, check: Check) -> Outcome:
    """Run one assertion on one answer. An assertion that cannot decide is an error, never a pass."""
    kind = ASSERTIONS[spec.type]
    try:
        verdict = await kind.check(spec, check)
    except CheckError as exc:
        return Outcome(spec.type, False, 0.0, spec.weight, error=str(exc), metric=spec.metric)
    except Exception as exc:  # a scorer's own bug must not take the whole run down
        message = f"{type(exc).__name__}: {exc}"
        return Outcome(spec.type, False, 0.0, spec.weight, error=message, metric=spec.metric)
    return Outcome(
        spec.type, verdict.passed, clip(verdict.score), spec.weight, verdict.reason, metric=spec.metric
    )
