"""Feedback as output drift: the pure statistics on known counts, their settings, and the monitor
worker on a real store (SQLite file, real embedder) raising ``drift.output`` when thumbs-down
jumps in the current window, and computing nothing about feedback when its thresholds are unset."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("scipy")

from pydantic import ValidationError
from scipy.stats import fisher_exact, mannwhitneyu

from llmgate.config.monitors import MonitorSettings
from llmgate.monitors import evaluate
from llmgate.monitors.evaluate import evaluate_group, thresholds_from
from llmgate.monitors.feedback_drift import FeedbackWindow, feedback_drift, feedback_window
from llmgate.monitors.output_drift import OutputThresholds
from llmgate.store.db import create_engine_for
from llmgate.store.migrate import upgrade
from llmgate.store.records import insert_records
from llmgate.store.scores import feedback_rows, put_score
from support.migrated import copy_migrated
from support.monitoring import Clock, MemorySink
from support.shared_data import load_rows

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
ON = OutputThresholds(feedback_rate=0.1, feedback_score=0.2)


def thumbs(ups: int, downs: int) -> tuple[float, ...]:
    return (1.0,) * ups + (0.0,) * downs


# --- the statistics on known counts ------------------------------------------------------------


def test_a_thumbs_down_jump_drifts_the_score_and_a_steady_rate_does_not() -> None:
    reference = FeedbackWindow(requests=200, rated=100, scores={"thumbs": thumbs(90, 10)})
    current = FeedbackWindow(requests=200, rated=100, scores={"thumbs": thumbs(40, 60)})
    stats = {s.name: s for s in feedback_drift(reference, current, ON)}
    assert set(stats) == {"feedback_rate", "feedback_score.thumbs"}

    score = stats["feedback_score.thumbs"]
    assert score.drifted and score.value == pytest.approx(-0.5) and score.threshold == 0.2
    expected_p = mannwhitneyu(thumbs(90, 10), thumbs(40, 60), alternative="two-sided").pvalue
    assert score.p_value == pytest.approx(expected_p) and score.p_value < 0.001
    assert score.details["reference_mean"] == pytest.approx(0.9)
    assert score.details["current_mean"] == pytest.approx(0.4)

    rate = stats["feedback_rate"]
    assert not rate.drifted and rate.value == 0 and rate.p_value == pytest.approx(1.0)


def test_the_feedback_rate_uses_the_rates_fisher_test_and_minimum() -> None:
    reference = FeedbackWindow(requests=200, rated=100)
    current = FeedbackWindow(requests=200, rated=40)
    (rate,) = feedback_drift(reference, current, ON)
    assert rate.name == "feedback_rate" and rate.drifted
    assert rate.value == pytest.approx(0.2 - 0.5)
    assert rate.p_value == pytest.approx(fisher_exact([[100, 100], [40, 160]])[1])
    # Significant but under the minimum change: not drifted.
    (small,) = feedback_drift(reference, current, OutputThresholds(feedback_rate=0.4))
    assert small.p_value < 0.001 and not small.drifted


def test_a_significant_score_change_under_the_minimum_is_not_drift_and_scales_are_kept_apart() -> None:
    ratings_ref = (5.0,) * 300 + (4.0,) * 300
    ratings_cur = (5.0,) * 250 + (4.0,) * 350  # mean 4.5 -> 4.417: real, but under 0.2 stars
    reference = FeedbackWindow(600, 600, {"stars": ratings_ref, "thumbs": thumbs(50, 50)})
    current = FeedbackWindow(600, 600, {"stars": ratings_cur, "thumbs": thumbs(50, 50)})
    stats = {s.name: s for s in feedback_drift(reference, current, OutputThresholds(feedback_score=0.05))}
    assert set(stats) == {"feedback_score.stars", "feedback_score.thumbs"}
    assert stats["feedback_score.stars"].value == pytest.approx(4 + 250 / 600 - 4.5)
    assert not stats["feedback_score.thumbs"].drifted
    strict = {s.name: s for s in feedback_drift(reference, current, OutputThresholds(feedback_score=0.2))}
    assert not strict["feedback_score.stars"].drifted


def test_nothing_is_computed_when_the_thresholds_are_unset_or_a_window_has_no_scores() -> None:
    reference = FeedbackWindow(200, 100, {"thumbs": thumbs(90, 10)})
    current = FeedbackWindow(200, 100, {"thumbs": thumbs(10, 90)})
    assert feedback_drift(reference, current, OutputThresholds()) == ()
    only_rate = feedback_drift(reference, current, OutputThresholds(feedback_rate=0.1))
    assert [s.name for s in only_rate] == ["feedback_rate"]
    unscored = FeedbackWindow(200, 0)
    assert [s.name for s in feedback_drift(reference, unscored, ON)] == ["feedback_rate"]


def test_a_window_counts_each_rated_request_once_and_averages_its_ratings() -> None:
    rows = [
        {"request_id": "a", "name": "thumbs", "value_num": 1.0},
        {"request_id": "a", "name": "thumbs", "value_num": 0.0},  # the admin disagreed
        {"request_id": "b", "name": "thumbs", "value_num": 0.0},
        {"request_id": "b", "name": "topic", "value_num": None},  # a label: rated, no mean
        {"request_id": "c", "name": "topic", "value_num": None},
        {"request_id": "elsewhere", "name": "thumbs", "value_num": 1.0},  # not in the window
    ]
    window = feedback_window(["a", "b", "c", "d"], rows)
    assert window.requests == 4 and window.rated == 3
    assert dict(window.scores) == {"thumbs": (0.5, 0.0)}


# --- settings ----------------------------------------------------------------------------------


def test_the_settings_turn_the_statistics_on_with_a_score_minimum_in_its_own_units() -> None:
    config = MonitorSettings.model_validate(
        {"drift": {"output": {"feedback_rate": 0.1, "feedback_score": 1.5}}}
    )
    output = thresholds_from(config)[1]
    assert (output.feedback_rate, output.feedback_score) == (0.1, 1.5)
    assert thresholds_from(MonitorSettings())[1].feedback_score is None
    for bad in ({"feedback_rate": 1.5}, {"feedback_score": -1}, {"feedback_score": float("inf")}):
        with pytest.raises(ValidationError):
            MonitorSettings.model_validate({"drift": {"output": bad}})
    with pytest.raises(ValueError, match="feedback_score"):
        OutputThresholds(feedback_score=-0.5)
    assert OutputThresholds(feedback_score=3.0).minimum("feedback_score") == 3.0


# --- the worker on a real store ----------------------------------------------------------------


@pytest.fixture
def engine(tmp_path: Path) -> Any:
    copy_migrated(f"sqlite:///{tmp_path / 'store.db'}")  # migrated once per session (support/migrated.py)
    engine = create_engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)  # a no-op at head
    yield engine
    engine.dispose()


def _record(n: int, at: datetime, question: str) -> dict[str, Any]:
    return {
        "id": f"{n:08x}" + "0" * 24,
        "created_at": at,
        "endpoint": "chat/completions",
        "model": "gpt-4o-mini",
        "status": "success",
        "status_code": 200,
        "request_json": json.dumps(
            {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": question}]}
        ),
        "response_text": "Paris.",
        "finish_reason": "stop",
        "prompt_tokens": len(question.split()) + 7,
        "completion_tokens": 2,
        "latency_ms": 120.0,
    }


def _settings(**output: Any) -> MonitorSettings:
    return MonitorSettings.model_validate(
        {
            "settle_s": 0,
            "lookback_s": 3600,
            "drift": {"window": "1h", "reference_size": 60, "min_samples": 40, "output": output},
            "rag": {"min_samples": 20},
        }
    )


def _rated_traffic(engine: Any) -> tuple[list[str], list[str]]:
    """80 questions answered and rated 90% thumbs up, then 80 more rated 60% thumbs down; every
    request rated once. The prompts (shared QA questions) and answers do not change."""
    questions = [row["question"] for row in load_rows("halueval_qa_dev.jsonl")]
    before = [_record(i, T0 + timedelta(seconds=i), questions[i]) for i in range(80)]
    after = [_record(900 + i, T0 + timedelta(minutes=5, seconds=i), questions[80 + i]) for i in range(80)]
    insert_records(engine, before + after)
    for i, row in enumerate(before):
        put_score(
            engine,
            target_kind="request",
            target_id=row["id"],
            name="thumbs",
            value=i % 10 != 0,
            source="key:k1",
        )
    for i, row in enumerate(after):
        put_score(
            engine,
            target_kind="request",
            target_id=row["id"],
            name="thumbs",
            value=i % 5 >= 3,
            source="key:k1",
        )
    return [r["id"] for r in before], [r["id"] for r in after]


@pytest.fixture(scope="module")
def embedder() -> Any:
    """One real embedder for the module's workers: loaded once, and both tests embed the same
    prompts in the same order (the same passes, so the same vectors, cached or not)."""
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("faiss")
    from llmgate.quality.embedder import Embedder

    return Embedder(threads=2)


def _worker(engine: Any, embedder: Any, config: MonitorSettings, clock: Clock) -> tuple[Any, MemorySink]:
    from llmgate.monitors.worker import MonitorWorker  # needs the monitors extra (torch, faiss)

    sink = MemorySink()
    worker = MonitorWorker(
        config,
        engine=engine,
        sinks=[sink],
        embedder=embedder,
        clock=clock,
        start=T0 - timedelta(hours=1),
    )
    return worker, sink


def test_the_feedback_drift_alert_fires_when_thumbs_down_jumps(engine: Any, embedder: Any) -> None:
    _rated_traffic(engine)
    clock = Clock(T0 + timedelta(hours=1))
    worker, sink = _worker(engine, embedder, _settings(feedback_rate=0.1, feedback_score=0.2), clock)
    result = worker.run_once()

    assert [a.kind for a in result.alerts] == ["drift.output"]
    assert sink.alerts == result.alerts
    assert result.alerts[0].details["breached"] == ["feedback_score.thumbs"]
    report = evaluate_group(engine, worker.settings, "gpt-4o-mini", "chat/completions", now=clock.now)
    stats = {s["name"]: s for s in report.statistics if s["name"].startswith("feedback")}
    thumbs_stat = stats["feedback_score.thumbs"]
    assert thumbs_stat["kind"] == "output" and thumbs_stat["breached"]
    assert thumbs_stat["details"]["reference_mean"] == pytest.approx(0.9)
    # The current window: the last 20 requests before the jump (18 up) and the 80 after (32 up).
    assert thumbs_stat["details"]["current_n"] == 100
    assert thumbs_stat["details"]["current_mean"] == pytest.approx(0.5)
    assert not stats["feedback_rate"]["breached"]  # every request was rated in both windows
    # The window's feedback is read for its model only.
    day = (T0, T0 + timedelta(hours=1))
    assert len(feedback_rows(engine, *day, model="gpt-4o-mini")) == 160
    assert feedback_rows(engine, *day, model="another-model") == []


def test_with_the_thresholds_unset_no_feedback_is_read_or_computed(
    engine: Any, embedder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _rated_traffic(engine)
    clock = Clock(T0 + timedelta(hours=1))
    worker, sink = _worker(engine, embedder, _settings(), clock)

    def no_reads(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("feedback read with its thresholds unset")

    monkeypatch.setattr(evaluate, "feedback_rows", no_reads)
    result = worker.run_once()
    assert sink.alerts == [] and result.alerts == []
    report = evaluate_group(engine, worker.settings, "gpt-4o-mini", "chat/completions", now=clock.now)
    assert report.status == "ok"
    assert not [s for s in report.statistics if s["name"].startswith("feedback")]
