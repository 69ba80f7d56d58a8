"""The table of assertion types, built from the family modules, and promptfoo's aliases for them."""

from __future__ import annotations

from llmgate.evals.assertions import budget, grounding, json_schema, judge, similarity, text
from llmgate.evals.assertions.base import AssertionType

__all__ = ["ALIASES", "ASSERTIONS", "KNOWN_TYPES", "canonical_type"]

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
