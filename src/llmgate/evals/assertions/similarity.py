"""Embedding assertions: ``similar`` and ``self_consistency``.

Both use llmgate's one sentence embedder (``llmgate.quality.embedder``, all-MiniLM-L6-v2 on the
CPU), imported on first use so that suites without them need neither torch nor the model.

- ``similar``: cosine similarity of the answer to ``value`` (or, without one, the case's
  ``reference``) at least ``threshold`` (default 0.75, as promptfoo). The score is the cosine, floored at 0.
- ``self_consistency``: SelfCheckGPT-style. ``n`` more answers (default 5) are sampled from the
  model under test at ``temperature`` (default 1.0); the score is the mean pairwise cosine
  similarity of all the answers, the original included. A model that knows the answer says the
  same thing each time; one that makes it up drifts. Passes at ``threshold`` (default 0.8).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from llmgate.errors import ConfigError
from llmgate.evals.assertions.base import (
    AssertionType,
    Check,
    CheckError,
    SpecProblem,
    Verdict,
    clip,
    require_threshold_in_unit,
)
from llmgate.quality.embedder import default_embedder

if TYPE_CHECKING:
    from llmgate.evals.assertions.spec import AssertionSpec

SIMILAR_THRESHOLD = 0.75  # promptfoo's default for similar
CONSISTENCY_THRESHOLD = 0.8
DEFAULT_SAMPLES = 5
DEFAULT_TEMPERATURE = 1.0


def _encode(texts: list[str]) -> Any:
    try:
        return default_embedder().encode(texts)
    except ConfigError as exc:
        raise CheckError(exc.message) from None


async def embed(texts: list[str]) -> Any:
    """Unit-length embeddings of ``texts`` (rows), computed off the event loop."""
    return await asyncio.to_thread(_encode, texts)


def _validate_similar(spec: AssertionSpec) -> None:
    if spec.value is not None and (not isinstance(spec.value, str) or not spec.value.strip()):
        raise SpecProblem(("value",), "similar: the value must be the text to compare with")
    require_threshold_in_unit(spec)


async def _similar(spec: AssertionSpec, check: Check) -> Verdict:
    target = spec.value if isinstance(spec.value, str) else check.reference
    if not target:
        raise CheckError("similar needs a value or the case's reference")
    if not check.output.strip():
        return Verdict(0.0, False, "the answer is empty")
    vectors = await embed([check.output, target])
    cosine = float(vectors[0] @ vectors[1])
    threshold = spec.threshold_or(SIMILAR_THRESHOLD)
    score = clip(cosine)
    return Verdict(score, score >= threshold, f"cosine {cosine:.3f} (threshold {threshold:g})")


def mean_pairwise_cosine(vectors: Any) -> float:
    """Mean cosine similarity over all pairs of the (unit-length) rows of ``vectors``."""
    # numpy: only when vectors are computed, off importing this module (gateway, CLI start-up)
    import numpy as np

    rows = np.asarray(vectors, dtype=np.float64)
    count = rows.shape[0]
    if count < 2:
        return 1.0
    sims = rows @ rows.T
    upper = sims[np.triu_indices(count, k=1)]
    return float(upper.mean())


def _validate_consistency(spec: AssertionSpec) -> None:
    require_threshold_in_unit(spec)


async def _self_consistency(spec: AssertionSpec, check: Check) -> Verdict:
    n = spec.n or DEFAULT_SAMPLES
    temperature = DEFAULT_TEMPERATURE if spec.temperature is None else spec.temperature
    samples = await check.sample(n, temperature)
    answers = [check.output, *samples]
    if not all(a.strip() for a in answers):
        return Verdict(0.0, False, "an answer was empty")
    agreement = mean_pairwise_cosine(await embed(answers))
    threshold = spec.threshold_or(CONSISTENCY_THRESHOLD)
    score = clip(agreement)
    return Verdict(
        score,
        score >= threshold,
        f"mean agreement {agreement:.3f} over {len(answers)} answers (threshold {threshold:g})",
    )


TYPES = (
    AssertionType(
        "similar",
        _similar,
        _validate_similar,
        "embedding cosine to value (or the reference) at least threshold",
        needs_reference=True,
        needs_embedder=True,
    ),
    AssertionType(
        "self_consistency",
        _self_consistency,
        _validate_consistency,
        "n samples at temperature agree with each other at least threshold",
        needs_embedder=True,
    ),
)
