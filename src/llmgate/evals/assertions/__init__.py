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
"""

from __future__ import annotations

from llmgate.evals.assertions import budget, grounding, json_schema, judge, similarity, text
from llmgate.evals.assertions.base import (
    AssertionSpec,
    AssertionType,
    Check,
    CheckError,
    Outcome,
    SpecProblem,
    Verdict,
    clip,
)

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

ASSERTIONS: dict[str, AssertionType] = {
    t.name: t for family in (text, json_schema, similarity, grounding, judge, budget) for t in family.TYPES
}
KNOWN_TYPES: tuple[str, ...] = tuple(ASSERTIONS)

#: promptfoo's names for the same checks (after hyphens become underscores).
ALIASES = {
    "llm_rubric": "llm_judge",
    "latency": "max_latency_ms",
    "cost": "max_cost_usd",
    "context_faithfulness": "grounded",
    "not_icontains": "not_contains",
}


def canonical_type(name: str) -> str | None:
    """The registered name for ``name`` (``not-contains`` → ``not_contains``), or ``None``."""
    key = name.strip().lower().replace("-", "_")
    key = ALIASES.get(key, key)
    return key if key in ASSERTIONS else None


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
