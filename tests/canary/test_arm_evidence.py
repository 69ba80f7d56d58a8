"""``llmgate.canary.evidence``: what each arm's aggregates take from the store's rows (and what
they leave out), updated batch by batch to the same numbers as computing them at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from llmgate.canary.evidence import MAX_VECTORS, CallBatch, CanaryEvidence, RunningMoments

T0 = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def row(arm: str = "candidate", **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "r",
        "created_at": T0,
        "arm": arm,
        "status": "success",
        "status_code": 200,
        "attempts": 1,
        "latency_ms": 800.0,
        "ttft_ms": None,
        "stream": False,
        "cost_usd": 0.002,
        "response_chars": 600,
        "finish_reason": "stop",
        "response_text": "Paris is the capital of France.",
    }
    return base | fields


def test_errors_count_failed_calls_and_calls_that_needed_another_attempt() -> None:
    evidence = CanaryEvidence()
    evidence.add_rows(
        [
            row(),
            row(status="error", status_code=500, response_text=None, finish_reason=None, latency_ms=30.0),
            row(attempts=2),  # the candidate failed, stable answered: the client never knew
            row(attempts=None),
            row("stable", attempts=3),
        ]
    )
    c = evidence.candidate
    assert (c.requests, c.errors, c.answers) == (4, 2, 3)
    assert (evidence.stable.requests, evidence.stable.errors) == (1, 1)
    # the failed call's latency is not an answer's latency
    assert sorted(c.latency_ms) == [800.0, 800.0, 800.0]


def test_refusals_and_finish_reasons_are_shares_of_the_answers() -> None:
    evidence = CanaryEvidence()
    evidence.add_rows(
        [
            row(response_text="I'm sorry, but I can't help with that."),
            row(response_text="I don't know."),
            row(finish_reason="content_filter", response_text=""),
            row(finish_reason="length"),
            row(finish_reason="tool_calls", response_text=None),
            row(finish_reason=None),
            row(finish_reason="end_turn"),
            # an error's text is not an answer, whatever it says
            row(status="error", response_text="I cannot help with that.", finish_reason="error"),
        ]
    )
    c = evidence.candidate
    assert c.answers == 7
    assert c.refusals == 3  # two refusals by their words, one by the content filter
    assert c.bad_finishes == 2  # content_filter and length


def test_time_to_first_token_only_from_streamed_calls() -> None:
    evidence = CanaryEvidence()
    evidence.add_rows(
        [
            row(stream=True, ttft_ms=250.0),
            row(stream=True, ttft_ms=None),
            row(stream=False, ttft_ms=90.0),  # not a stream: not a time to first token
            row(stream=True, ttft_ms=310.0, status="error"),
        ]
    )
    assert sorted(evidence.candidate.ttft_ms) == [250.0]
    assert evidence.candidate.latency_quantile(0.5, streamed=True) == 250.0
    assert np.isnan(evidence.stable.latency_quantile(0.95))


def test_missing_cost_and_length_are_left_out_not_counted_as_zero() -> None:
    evidence = CanaryEvidence()
    evidence.add_rows(
        [row(cost_usd=None, response_chars=None), row(cost_usd=0.004, response_chars=300), row()]
    )
    c = evidence.candidate
    assert c.cost.count == 2 and c.cost.mean == pytest.approx(0.003)
    assert c.response_chars.count == 2 and c.response_chars.mean == pytest.approx(450)


def test_running_moments_merged_batch_by_batch_equal_the_whole() -> None:
    rng = np.random.default_rng(0)
    values = rng.lognormal(0, 1, 5000)
    values[rng.random(5000) < 0.1] = np.nan
    moments = RunningMoments()
    for chunk in np.array_split(values, [1, 2, 10, 500, 501, 3000]):
        moments.add(chunk)
    kept = values[~np.isnan(values)]
    assert moments.count == kept.size
    assert moments.mean == pytest.approx(kept.mean(), rel=1e-12)
    assert moments.variance == pytest.approx(kept.var(ddof=1), rel=1e-10)
    assert np.isnan(RunningMoments().variance)


def test_latency_quantile_matches_numpy_and_survives_growth() -> None:
    rng = np.random.default_rng(1)
    evidence = CanaryEvidence()
    latencies = rng.lognormal(6.7, 0.5, 3000)
    for chunk in np.array_split(latencies, 7):
        evidence.add_rows([row("stable", latency_ms=float(v)) for v in chunk])
        seen = latencies[: evidence.stable.requests]
        assert evidence.stable.latency_quantile(0.95) == pytest.approx(np.percentile(seen, 95))
    assert sorted(evidence.stable.latency_ms) == pytest.approx(sorted(latencies))


def test_quality_rows_feed_the_scores_and_a_bounded_window_of_answer_vectors() -> None:
    evidence = CanaryEvidence()
    vector = np.arange(4, dtype="<f4").tobytes()
    quality = [
        {"record_id": "a", "arm": "candidate", "groundedness": 0.9, "context_relevance": None,
         "answer_relevance": 0.8, "response_vector": vector, "dim": 4},
        {"record_id": "b", "arm": "candidate", "groundedness": None, "context_relevance": None,
         "answer_relevance": None, "response_vector": None, "dim": None},
        {"record_id": "c", "arm": "candidate", "groundedness": 0.5, "context_relevance": 0.7,
         "answer_relevance": None, "response_vector": np.arange(3, dtype="<f4").tobytes(), "dim": 4},
        {"record_id": "d", "arm": None, "groundedness": 0.1},
        {"record_id": "e", "arm": "candidate", "response_vector": b"\x00\x01\x02", "dim": 1},
    ]  # fmt: skip
    assert evidence.add_quality(quality) == 4
    c = evidence.candidate
    assert c.quality_samples == 4
    assert (c.groundedness.count, c.groundedness.mean) == (2, pytest.approx(0.7))
    assert c.context_relevance.count == 1 and c.answer_relevance.count == 1
    assert len(c.vectors) == 1  # the ones whose size disagrees with their dim, or is not float32s, dropped
    many = [{"arm": "stable", "response_vector": vector, "dim": 4} for _ in range(MAX_VECTORS + 10)]
    evidence.add_quality(many)
    assert len(evidence.stable.vectors) == MAX_VECTORS
    matrix = evidence.stable.response_vectors()
    assert matrix is not None and matrix.shape == (MAX_VECTORS, 4) and matrix.dtype == np.float32


def test_the_step_counts_candidate_requests_since_it_started() -> None:
    evidence = CanaryEvidence()
    assert (
        evidence.add_rows([row(created_at=T0 + timedelta(seconds=i)) for i in range(5)] + [row("stable")])
        == 6
    )
    assert evidence.step_requests == 5
    assert evidence.first_candidate_at == T0
    evidence.start_step(T0 + timedelta(seconds=10))
    # a late row from before the step (a slow writer) counts as evidence, not for the new step
    naive = (T0 + timedelta(seconds=11)).replace(tzinfo=None)
    evidence.add_rows(
        [row(created_at=T0 + timedelta(seconds=3)), row(created_at=naive), row(created_at=None)]
    )
    assert evidence.step_requests == 2
    assert evidence.candidate.requests == 8
    evidence.add_rows([row("candidate-pinned"), row("stable-pinned"), row(None)])  # not live: skipped
    assert evidence.candidate.requests + evidence.stable.requests == 9


def test_a_call_batch_from_rows_has_the_columns_the_gates_read() -> None:
    batch = CallBatch.from_rows([row(), row(status="error", latency_ms=None, cost_usd=None)])
    assert batch.error.tolist() == [False, True]
    assert batch.ok.tolist() == [True, False]
    assert np.isnan(batch.latency_ms[1]) and np.isnan(batch.cost_usd[1])
