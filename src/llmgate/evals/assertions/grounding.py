"""Offline faithfulness assertions: ``grounded`` and ``answer_relevance``.

No LLM judge: both call llmgate's scorers in ``llmgate.quality`` (sentence-level support from
embeddings combined with lexical evidence); the embedding model loads on first use.

- ``grounded``: the answer is supported by the case's ``context`` (the retrieved passages);
  passes at ``threshold`` (default 0.5). The suite loader refuses a case without a context.
  Batchable: ``check_batch`` scores many answers with one embedder call (``grounded_many``),
  each verdict the one ``check`` gives that answer alone.
- ``answer_relevance``: the answer addresses the question (the case's ``question`` variable, or
  else the last user message); passes at ``threshold`` (default 0.5).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING

from llmgate.errors import ConfigError
from llmgate.evals.assertions.base import (
    AssertionType,
    Check,
    CheckError,
    Verdict,
    clip,
    require_threshold_in_unit,
)
from llmgate.quality.grounded import grounded, grounded_many
from llmgate.quality.relevance import answer_relevance

if TYPE_CHECKING:
    from llmgate.evals.assertions.spec import AssertionSpec

GROUNDED_THRESHOLD = 0.5
RELEVANCE_THRESHOLD = 0.5


def _grounded_score(answer: str, context: str | tuple[str, ...], question: str) -> float:
    try:
        return float(grounded(answer, context, question=question or None).score)
    except ConfigError as exc:
        raise CheckError(exc.message) from None


def _relevance_score(question: str, answer: str) -> float:
    try:
        return float(answer_relevance(question, answer).score)
    except ConfigError as exc:
        raise CheckError(exc.message) from None


def _grounded_early(check: Check) -> Verdict | None:
    """The verdict when there is nothing to score (an empty answer); ``CheckError`` without a context."""
    if not check.context:
        raise CheckError("grounded needs the case's context")
    if not check.output.strip():
        return Verdict(0.0, False, "the answer is empty")
    return None


def _grounded_verdict(spec: AssertionSpec, score: float) -> Verdict:
    threshold = spec.threshold_or(GROUNDED_THRESHOLD)
    return Verdict(score, score >= threshold, f"support {score:.3f} (threshold {threshold:g})")


async def _grounded(spec: AssertionSpec, check: Check) -> Verdict:
    early = _grounded_early(check)
    if early is not None:
        return early
    context = check.passages or check.context or ""
    score = clip(await asyncio.to_thread(_grounded_score, check.output, context, check.question))
    return _grounded_verdict(spec, score)


def _grounded_batch(items: Sequence[tuple[AssertionSpec, Check]]) -> list[Verdict | CheckError]:
    """``_grounded`` of every item, with one ``grounded_many`` call for the answers to score."""
    out: list[Verdict | CheckError | None] = []
    todo: list[int] = []
    for k, (_, check) in enumerate(items):
        try:
            out.append(_grounded_early(check))
        except CheckError as exc:
            out.append(exc)
        if out[-1] is None:
            todo.append(k)
    cases = [
        (items[k][1].output, items[k][1].passages or items[k][1].context or "", items[k][1].question or None)
        for k in todo
    ]
    try:
        scores = grounded_many(cases) if cases else []
    except ConfigError as exc:
        error = CheckError(exc.message)
        return [error if verdict is None else verdict for verdict in out]
    for k, result in zip(todo, scores, strict=True):
        out[k] = _grounded_verdict(items[k][0], clip(float(result.score)))
    done = [verdict for verdict in out if verdict is not None]
    assert len(done) == len(items)
    return done


async def _answer_relevance(spec: AssertionSpec, check: Check) -> Verdict:
    if not check.question.strip():
        raise CheckError("answer_relevance needs a question (a question variable or a user message)")
    if not check.output.strip():
        return Verdict(0.0, False, "the answer is empty")
    score = clip(await asyncio.to_thread(_relevance_score, check.question, check.output))
    threshold = spec.threshold_or(RELEVANCE_THRESHOLD)
    return Verdict(score, score >= threshold, f"relevance {score:.3f} (threshold {threshold:g})")


TYPES = (
    AssertionType(
        "grounded",
        _grounded,
        require_threshold_in_unit,
        "the answer is supported by the case's context (offline)",
        needs_context=True,
        needs_embedder=True,
        check_batch=_grounded_batch,
    ),
    AssertionType(
        "answer_relevance",
        _answer_relevance,
        require_threshold_in_unit,
        "the answer addresses the question (offline)",
        needs_embedder=True,
    ),
)
