"""The monitor worker on a real store (SQLite file), real text and the real embedder.

Records are written with ``store.records.insert_records`` at chosen times, as the gateway's
recorder would; the worker passes run in the test (``run_once``); alerts go to an in-memory sink
as well as the ``alerts`` table. Covers sampling, late records, prompt drift with one alert per
condition until it clears, pinned baselines, output drift, retrieval quality and the reports.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("sentence_transformers")
pytest.importorskip("faiss")

from llmgate.config.monitors import MonitorSettings
from llmgate.monitors.reports import drift_report, drift_status, quality_report
from llmgate.monitors.worker import MonitorWorker, sampled
from llmgate.quality.embedder import Embedder
from llmgate.store import monitors as queries
from llmgate.store.alerts import list_alerts
from llmgate.store.db import create_engine_for
from llmgate.store.migrate import upgrade
from llmgate.store.records import insert_records
from llmgate.telemetry.call_ids import new_call_id
from support.migrated import copy_migrated
from support.monitoring import Clock, MemorySink
from support.shared_data import load_rows

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _rows(name: str) -> list[dict[str, Any]]:
    return load_rows(name)


QA = _rows("halueval_qa_dev.jsonl")
GENERAL = _rows("halueval_general_dev.jsonl")


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder(threads=2)


@pytest.fixture
def engine(tmp_path: Path) -> Any:
    copy_migrated(f"sqlite:///{tmp_path / 'store.db'}")  # migrated once per session (support/migrated.py)
    engine = create_engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)  # a no-op at head
    yield engine
    engine.dispose()


def record(
    n: int,
    at: datetime,
    question: str,
    answer: str = "Here is what I found.",
    *,
    model: str = "gpt-4o-mini",
    metadata: dict[str, Any] | None = None,
    user: str | None = None,
    finish_reason: str = "stop",
) -> dict[str, Any]:
    return {
        "id": f"{n:08x}" + "0" * 24,
        "created_at": at,
        "endpoint": "chat/completions",
        "model": model,
        "status": "success",
        "status_code": 200,
        "request_json": json.dumps({"model": model, "messages": [{"role": "user", "content": question}]}),
        "response_text": answer,
        "finish_reason": finish_reason,
        "prompt_tokens": len(question.split()) + 7,
        "completion_tokens": len(answer.split()),
        "latency_ms": 120.0,
        "metadata_json": json.dumps(metadata) if metadata else None,
        "user": user,
    }


def settings(**drift: Any) -> MonitorSettings:
    return MonitorSettings.model_validate(
        {
            "settle_s": 0,
            "lookback_s": 3600,
            "drift": {"window": "60", "reference_size": 60, "min_samples": 40, "resolve_after": 2, **drift},
            "rag": {"min_samples": 20},
        }
    )


def worker_for(
    engine: Any, embedder: Embedder, clock: Clock, config: MonitorSettings | None = None, tracing: Any = None
) -> tuple[MonitorWorker, MemorySink]:
    sink = MemorySink()
    worker = MonitorWorker(
        config or settings(),
        engine=engine,
        sinks=[sink],
        embedder=embedder,
        clock=clock,
        start=T0 - timedelta(hours=1),
        tracing=tracing,
    )
    return worker, sink


def test_sampling_is_a_stable_hash_of_the_record_id() -> None:
    ids = ["ab" * 12 + f"{i:08x}" for i in range(0, 2**32, 2**32 // 4000)]
    kept = [i for i in ids if sampled(i, 0.25)]
    assert 0.22 < len(kept) / len(ids) < 0.28
    assert kept == [i for i in ids if sampled(i, 0.25)]
    assert all(sampled(i, 1.0) for i in ids[:10]) and not any(sampled(i, 0.0) for i in ids[:10])


def test_sampling_draws_from_the_random_end_of_an_id_not_its_time_part() -> None:
    """Ids made in the same second share their first digits (``call_ids.py``): a sample of one
    busy second still keeps about ``rate`` of it, and none of an id that is not hex."""
    ids = [new_call_id() for _ in range(4_000)]  # well within a few seconds
    assert 0.22 < sum(sampled(i, 0.25) for i in ids) / len(ids) < 0.28
    assert not sampled("not a hex id", 0.5)


def test_samples_each_record_once_skips_its_own_calls_and_catches_late_records(
    engine: Any, embedder: Embedder
) -> None:
    clock = Clock(T0 + timedelta(minutes=10))
    config = MonitorSettings.model_validate(
        {"settle_s": 0, "lookback_s": 300, "sample_rates": {"muted": 0.0}, "rag": {"enabled": False}}
    )
    worker, _ = worker_for(engine, embedder, clock, config)
    rows = [record(i, T0 + timedelta(seconds=i), QA[i]["question"]) for i in range(30)]
    rows.append(record(100, T0, "an embedding call of the monitor", user="llmgate-monitor"))
    rows.append(record(101, T0, QA[40]["question"], model="muted"))
    insert_records(engine, rows)
    first = worker.run_once()
    assert first.sampled == 30
    assert worker.run_once().sampled == 0
    # A long stream stored after newer requests: created before the cursor, within the lookback.
    clock.now += timedelta(minutes=1)
    insert_records(engine, [record(200, clock.now - timedelta(minutes=3), QA[50]["question"])])
    assert worker.run_once().sampled == 1
    stored = queries.window_samples(engine, "gpt-4o-mini", "chat/completions")
    assert len(stored) == 31 and len({s["record_id"] for s in stored}) == 31
    assert all(len(s["prompt_vector"]) == 384 * 4 for s in stored)
    assert stored[0]["prompt_excerpt"] == QA[0]["question"][:300]
    assert queries.window_samples(engine, "muted", "chat/completions") == []


def test_domain_switch_alerts_once_then_resolves(engine: Any, embedder: Embedder) -> None:
    clock = Clock(T0 + timedelta(minutes=5))
    worker, sink = worker_for(engine, embedder, clock)
    insert_records(engine, [record(i, T0 + timedelta(seconds=i), QA[i]["question"]) for i in range(90)])
    assert worker.run_once().evaluated == [("gpt-4o-mini", "chat/completions", "collecting")]
    assert sink.alerts == []

    switch = T0 + timedelta(minutes=10)
    general = [record(1000 + i, switch + timedelta(seconds=i), GENERAL[i]["user_query"]) for i in range(60)]
    insert_records(engine, general)
    clock.now = switch + timedelta(minutes=2)
    result = worker.run_once()
    assert [a.kind for a in result.alerts] == ["drift.prompt"]
    alert = result.alerts[0]
    assert {"mmd", "ood_rate"} <= set(alert.details["breached"])
    assert alert.details["first_drifted_record"] in {r["id"] for r in general}
    assert alert.details["detection_delay_s"] == pytest.approx(
        (clock.now - datetime.fromisoformat(alert.details["first_drifted_at"])).total_seconds()
    )
    assert alert.details["grown_topics"][0]["current_example"] in {r["user_query"] for r in GENERAL[:60]}

    # Still drifted: nothing more is raised.
    insert_records(
        engine,
        [
            record(2000 + i, switch + timedelta(minutes=3, seconds=i), GENERAL[100 + i]["user_query"])
            for i in range(20)
        ],
    )
    clock.now += timedelta(minutes=3)
    assert worker.run_once().alerts == []
    assert [c["condition"] for c in queries.conditions(engine, active=True)] == ["drift.prompt"]
    status = drift_status(engine, worker.settings)["groups"][0]
    assert status["status"] == "alerting"

    # Back to QA questions: clean twice in a row (resolve_after 2) resolves it, once.
    back = switch + timedelta(minutes=20)
    insert_records(
        engine, [record(3000 + i, back + timedelta(seconds=i), QA[100 + i]["question"]) for i in range(70)]
    )
    clock.now = back + timedelta(minutes=2)
    assert worker.run_once().alerts == []
    clock.now += timedelta(seconds=30)
    resolved = worker.run_once().alerts
    assert [a.kind for a in resolved] == ["drift.prompt.resolved"]
    assert queries.conditions(engine, active=True) == []
    assert [a.kind for a in sink.alerts] == ["drift.prompt", "drift.prompt.resolved"]
    assert [a["kind"] for a in list_alerts(engine)] == ["drift.prompt.resolved", "drift.prompt"]


def test_a_pinned_baseline_becomes_the_reference(engine: Any, embedder: Embedder) -> None:
    clock = Clock(T0 + timedelta(hours=2))
    worker, sink = worker_for(engine, embedder, clock)
    insert_records(engine, [record(i, T0 + timedelta(seconds=i), QA[i]["question"]) for i in range(60)])
    later = T0 + timedelta(hours=1)
    # halueval_general is ordered by source: a random draw is what "the same traffic" looks like.
    queries_ = [row["user_query"] for row in random.Random(7).sample(GENERAL, 120)]
    insert_records(engine, [record(500 + i, later + timedelta(seconds=i), queries_[i]) for i in range(120)])
    queries.set_baseline(engine, "gpt-4o-mini", "*", later, later + timedelta(seconds=59), clock.now)
    report = drift_report(engine, worker.settings, now=clock.now)
    assert report["groups"] == []  # nothing sampled yet
    worker.run_once()
    group = drift_report(engine, worker.settings, now=clock.now)["groups"][0]
    assert group["reference"]["kind"] == "baseline" and group["reference"]["n"] == 60
    # The current window (the last 60 general queries) matches the general baseline.
    assert group["status"] == "ok", [s for s in group["statistics"] if s["breached"]]
    assert sink.alerts == []


def test_refusals_are_output_drift(engine: Any, embedder: Embedder) -> None:
    clock = Clock(T0 + timedelta(hours=1))
    worker, _ = worker_for(engine, embedder, clock, settings(window="1h"))
    questions = [row["question"] for row in QA]
    insert_records(engine, [record(i, T0 + timedelta(seconds=i), questions[i], "Paris.") for i in range(80)])
    refusal = "I'm sorry, but I can't help with that request."
    insert_records(
        engine,
        [
            record(
                900 + i,
                T0 + timedelta(minutes=5, seconds=i),
                questions[80 + i],
                refusal if i % 2 else "Paris.",
            )
            for i in range(80)
        ],
    )
    result = worker.run_once()
    kinds = [a.kind for a in result.alerts]
    assert "drift.output" in kinds and "drift.prompt" not in kinds
    output = next(a for a in result.alerts if a.kind == "drift.output")
    assert "refusal_rate" in output.details["breached"]


def test_retrieval_quality_is_scored_and_the_worst_requests_kept(engine: Any, embedder: Embedder) -> None:
    clock = Clock(T0 + timedelta(hours=1))
    worker, _ = worker_for(engine, embedder, clock, settings(window="1h"))
    rows = []
    for i, row in enumerate(QA[:40]):
        faithful = i % 4 != 0
        answer = row["right_answer"] if faithful else row["hallucinated_answers"][0]
        rows.append(
            record(
                i,
                T0 + timedelta(seconds=i),
                row["question"],
                answer,
                metadata={"context": [row["knowledge"]]},
            )
        )
    header_row = QA[45]
    rows.append(
        record(
            45,
            T0 + timedelta(minutes=1),
            header_row["question"],
            header_row["right_answer"],
            metadata={"x-llmgate-context": json.dumps([header_row["knowledge"]])},
        )
    )
    insert_records(engine, rows)
    assert worker.run_once().rag_scored == 41
    report = quality_report(engine, worker.settings, now=clock.now, window="1h")
    group = report["groups"][0]
    assert group["n"] == 41
    worst = [w["record_id"] for w in group["worst"][:5]]
    hallucinated = {rows[i]["id"] for i in range(40) if i % 4 == 0}
    assert sum(w in hallucinated for w in worst) >= 4
    assert all(w["question"] for w in group["worst"])


def test_scores_become_opentelemetry_evaluation_events(engine: Any, embedder: Embedder) -> None:
    from support.otel import memory_otel

    otel = memory_otel()
    tracing = otel.tracing
    clock = Clock(T0 + timedelta(hours=1))
    worker, _ = worker_for(engine, embedder, clock, settings(window="1h"), tracing=tracing)
    rows = [
        record(
            i,
            T0 + timedelta(seconds=i),
            row["question"],
            row["right_answer"],
            metadata={"context": [row["knowledge"]]},
        )
        for i, row in enumerate(QA[:25])
    ]
    insert_records(engine, rows)
    worker.run_once()
    events = otel.events()
    tracing.shutdown()
    assert all(e.event_name == "gen_ai.evaluation.result" for e in events)
    grounded = [e.attributes for e in events if e.attributes["gen_ai.evaluation.name"] == "groundedness"]
    assert {a["llmgate.request.id"] for a in grounded} == {r["id"] for r in rows}
    assert all(0.0 <= a["gen_ai.evaluation.score.value"] <= 1.0 for a in grounded)
    statistics = [
        e.attributes for e in events if e.attributes["gen_ai.evaluation.name"].startswith("llmgate.rag.")
    ]
    assert statistics and all(a["gen_ai.evaluation.score.label"] in ("ok", "breached") for a in statistics)
    assert all(a["llmgate.model"] == "gpt-4o-mini" for a in statistics)
