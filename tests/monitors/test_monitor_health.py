"""The monitor worker on mixed traffic and on real faults: every pass is counted, failures are
visible (``drift status``, the store) and alert once per streak; one failing step never stalls
the others.

A real store (SQLite file), records written as the recorder writes them, and the worker's
``HttpEmbedder`` on the loopback fake upstream's ``/v1/embeddings`` (no model to load). The faults
are real: the embeddings endpoint answering 503 (``upstream.down``), and a store trigger that
refuses retrieval-quality scores.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from llmgate.cli.main import app
from llmgate.config.monitors import MonitorSettings
from llmgate.monitors.reports import drift_status, quality_report
from llmgate.monitors.worker import MonitorWorker
from llmgate.quality.http_embedder import HttpEmbedder
from llmgate.store.alerts import list_alerts
from llmgate.store.db import create_engine_for
from llmgate.store.migrate import upgrade
from llmgate.store.models import table
from llmgate.store.records import insert_records
from llmgate.telemetry.alerts import Alert
from support.migrated import copy_migrated
from support.monitoring import Clock, MemorySink
from support.shared_data import load_rows
from support.upstream import FakeUpstream

QA = load_rows("halueval_qa_dev.jsonl")


@pytest.fixture
def t0() -> datetime:
    """A few minutes before the test runs (not before the session: a long suite would make the
    last pass look stalled): `llmgate drift status` reads real time and must see it as recent."""
    return datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=4)


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    server = FakeUpstream().start()
    yield server
    server.stop()


@pytest.fixture
def embedder(upstream: FakeUpstream) -> Iterator[HttpEmbedder]:
    with HttpEmbedder(upstream.base_url, "text-embedding-3-small") as embedder:
        yield embedder


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "store.db"


@pytest.fixture
def engine(store_path: Path) -> Iterator[Engine]:
    copy_migrated(f"sqlite:///{store_path}")  # migrated once per session (support/migrated.py)
    engine = create_engine_for(f"sqlite:///{store_path}")
    upgrade(engine)  # a no-op at head
    yield engine
    engine.dispose()


def record(n: int, at: datetime, *, rag: bool) -> dict[str, Any]:
    """A recorded chat request on a HaluEval question; a RAG one carries its knowledge as
    ``metadata.context`` (as the openai SDK's ``metadata=`` sends it) and answers from it."""
    row = QA[n]
    return {
        "id": f"{n:08x}" + "0" * 24,
        "created_at": at,
        "endpoint": "chat/completions",
        "model": "gpt-4o-mini",
        "status": "success",
        "status_code": 200,
        "request_json": json.dumps(
            {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": row["question"]}]}
        ),
        "response_text": row["right_answer"],
        "finish_reason": "stop",
        "prompt_tokens": 20,
        "completion_tokens": 5,
        "latency_ms": 120.0,
        "metadata_json": json.dumps({"context": [row["knowledge"]]}) if rag else None,
    }


def worker_for(
    engine: Engine, embedder: HttpEmbedder, clock: Clock, **overrides: Any
) -> tuple[MonitorWorker, MemorySink]:
    settings = MonitorSettings.model_validate(
        {"settle_s": 0, "lookback_s": 3600, "failure_alert_after": 3, "rag": {"min_samples": 2}, **overrides}
    )
    sink = MemorySink()
    worker = MonitorWorker(
        settings,
        engine=engine,
        sinks=[sink],
        embedder=embedder,
        clock=clock,
        start=clock.now - timedelta(hours=1, minutes=1),
    )
    return worker, sink


def scores(engine: Engine) -> dict[str, float | None]:
    s = table("monitor_samples")
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(s.c.record_id, s.c.groundedness)).all())  # type: ignore[arg-type]


@pytest.mark.parametrize("first", ["plain", "rag"])
def test_mixed_rag_and_plain_traffic_is_scored_in_one_pass(
    t0: datetime, engine: Engine, embedder: HttpEmbedder, first: str
) -> None:
    kinds = [(i % 2 == 0) == (first == "rag") for i in range(8)]
    rows = [record(i, t0 + timedelta(seconds=i), rag=rag) for i, rag in enumerate(kinds)]
    insert_records(engine, rows)
    clock = Clock(t0 + timedelta(minutes=1))
    worker, _ = worker_for(engine, embedder, clock)

    result = worker.run_once()

    assert result.errors == []
    assert result.sampled == 8 and result.rag_scored == 4
    stored = scores(engine)
    for row, rag in zip(rows, kinds, strict=True):
        assert (stored[row["id"]] is not None) is rag, row["id"]
    report = quality_report(engine, worker.settings, now=clock.now, window="1h")
    assert report["groups"][0]["n"] == 4
    health = drift_status(engine, worker.settings, now=clock.now)["monitor"]
    assert health["status"] == "ok" and health["consecutive_failures"] == 0
    assert health["last_success_at"] == clock.now.isoformat()


def test_failing_passes_are_counted_shown_and_alerted_once_per_streak(
    t0: datetime,
    engine: Engine,
    upstream: FakeUpstream,
    embedder: HttpEmbedder,
    store_path: Path,
    tmp_path: Path,
) -> None:
    clock = Clock(t0 + timedelta(minutes=1))
    worker, sink = worker_for(engine, embedder, clock)
    insert_records(engine, [record(i, t0 + timedelta(seconds=i), rag=i % 2 == 0) for i in range(4)])
    assert worker.run_once().errors == []
    succeeded_at = clock.now

    upstream.down = True  # the embeddings deployment answers 503 from now on
    insert_records(engine, [record(i, clock.now + timedelta(seconds=i), rag=i % 2 == 0) for i in range(4, 8)])
    raised: list[Alert] = []
    for n in range(1, 5):
        clock.now += timedelta(seconds=30)
        result = worker.run_once()
        assert len(result.errors) == 1 and result.errors[0].startswith("sampling: "), result.errors
        assert "503" in result.errors[0]
        raised += result.alerts
        if n < 3:
            assert not raised  # not before failure_alert_after passes in a row
    assert [a.kind for a in raised] == ["monitor.failing"]  # once, on the third pass, not the fourth
    assert raised[0].severity == "critical" and raised[0].details["consecutive_failures"] == 3
    assert [a.kind for a in sink.alerts] == ["monitor.failing"]
    assert [a["kind"] for a in list_alerts(engine)] == ["monitor.failing"]

    health = drift_status(engine, worker.settings, now=clock.now)["monitor"]
    assert health["status"] == "failing"
    assert health["consecutive_failures"] == 4 and health["failures_total"] == 4
    assert health["last_success_at"] == succeeded_at.isoformat()
    assert health["since_success_s"] == 120.0
    assert health["lag_s"] == 120.0  # records have been read up to the last good pass only
    assert "sampling" in health["last_error"] and "503" in health["last_error"]

    config = tmp_path / "llmgate.yaml"
    config.write_text(
        yaml.safe_dump({"model_list": [], "llmgate": {"database_url": f"sqlite:///{store_path}"}})
    )
    shown = CliRunner().invoke(app, ["drift", "status", "--config", str(config)], terminal_width=200)
    assert shown.exit_code == 0, shown.output
    text = " ".join(shown.output.split())
    assert "Monitor worker: failing" in text
    assert "4 failed passes in a row (4 in all)" in text
    assert "last error: sampling:" in text
    as_json = CliRunner().invoke(app, ["drift", "status", "--config", str(config), "--format", "json"])
    assert json.loads(as_json.output)["monitor"]["consecutive_failures"] == 4

    upstream.down = False
    clock.now += timedelta(seconds=30)
    result = worker.run_once()
    assert result.errors == [] and result.sampled == 4
    assert [a.kind for a in result.alerts] == ["monitor.failing.resolved"]
    health = drift_status(engine, worker.settings, now=clock.now)["monitor"]
    assert health["status"] == "ok" and health["consecutive_failures"] == 0
    assert health["failures_total"] == 4 and health["lag_s"] == 0.0
    clock.now += timedelta(seconds=30)
    assert worker.run_once().alerts == []  # the streak is over: nothing more to resolve


def test_a_store_refusing_retrieval_scores_does_not_stop_drift_sampling(
    t0: datetime, engine: Engine, embedder: HttpEmbedder
) -> None:
    with engine.begin() as conn:  # a real fault: the store rejects every row with scores
        conn.exec_driver_sql(
            "CREATE TRIGGER refuse_scores BEFORE INSERT ON monitor_samples "
            "WHEN NEW.groundedness IS NOT NULL BEGIN SELECT RAISE(ABORT, 'scores refused'); END"
        )
    rows = [record(i, t0 + timedelta(seconds=i), rag=i % 2 == 0) for i in range(6)]
    insert_records(engine, rows)
    clock = Clock(t0 + timedelta(minutes=1))
    worker, _ = worker_for(engine, embedder, clock)

    result = worker.run_once()

    assert result.sampled == 6 and result.rag_scored == 0
    assert result.evaluated == [("gpt-4o-mini", "chat/completions", "collecting")]
    assert len(result.errors) == 1 and "retrieval-quality scores" in result.errors[0]
    assert "scores refused" in result.errors[0]
    assert scores(engine) == {row["id"]: None for row in rows}  # every drift sample is stored
    health = drift_status(engine, worker.settings, now=clock.now)["monitor"]
    assert health["status"] == "failing" and health["lag_s"] == 0.0  # the cursor moved on


def test_monitor_once_exits_1_when_its_pass_fails(
    engine: Engine, upstream: FakeUpstream, store_path: Path, tmp_path: Path
) -> None:
    config = tmp_path / "llmgate.yaml"
    monitors = {
        "settle_s": 0,
        "embedder": {"deployment": "text-embedding-3-small", "base_url": upstream.base_url},
    }
    config.write_text(
        yaml.safe_dump(
            {
                "model_list": [],
                "llmgate": {
                    "database_url": f"sqlite:///{store_path}",
                    "spill_dir": str(tmp_path / "spill"),
                    "monitors": monitors,
                },
            }
        )
    )
    now = datetime.now(UTC)
    insert_records(engine, [record(i, now - timedelta(seconds=10 - i), rag=i % 2 == 0) for i in range(4)])
    once = ["monitor", "--once", "--no-idle", "--nice", "0", "--since", "1h", "--config", str(config)]

    upstream.down = True
    failed = CliRunner().invoke(app, once)
    assert failed.exit_code == 1, failed.output
    assert "error: the pass failed: sampling: " in failed.output and "503" in failed.output

    upstream.down = False
    passed = CliRunner().invoke(app, once)
    assert passed.exit_code == 0, passed.output
    assert "4 sampled, 2 RAG-scored" in passed.output
    health = drift_status(engine, MonitorSettings(), now=datetime.now(UTC))["monitor"]
    assert health["failures_total"] == 1 and health["consecutive_failures"] == 0


def test_a_store_that_cannot_be_read_still_alerts_the_sinks_after_n_passes(
    t0: datetime, engine: Engine, embedder: HttpEmbedder, store_path: Path, tmp_path: Path
) -> None:
    clock = Clock(t0 + timedelta(minutes=1))
    worker, sink = worker_for(engine, embedder, clock)
    insert_records(engine, [record(i, t0 + timedelta(seconds=i), rag=False) for i in range(2)])
    assert worker.run_once().errors == []

    # A real fault: the database file is replaced by something that is not a database.
    engine.dispose()
    saved = tmp_path / "saved"
    saved.mkdir()
    for path in store_path.parent.glob(store_path.name + "*"):
        path.rename(saved / path.name)
    store_path.write_bytes(b"this is not an SQLite database" * 200)
    raised: list[Alert] = []
    for _ in range(4):
        clock.now += timedelta(seconds=30)
        result = worker.run_once()
        assert result.errors and result.errors[0].startswith("sampling: ")
        raised += result.alerts
    assert [a.kind for a in raised] == ["monitor.failing"]  # on the third pass, from memory
    assert raised[0].details["consecutive_failures"] == 3
    assert [a.kind for a in sink.alerts] == ["monitor.failing"]

    engine.dispose()
    store_path.unlink()
    for path in saved.iterdir():
        path.rename(store_path.parent / path.name)
    clock.now += timedelta(seconds=30)
    result = worker.run_once()
    assert result.errors == []
    assert [a.kind for a in result.alerts] == ["monitor.failing.resolved"]
    assert result.alerts[0].details["failed_passes"] == 4
    health = drift_status(engine, worker.settings, now=clock.now)["monitor"]
    assert health["status"] == "ok" and not health["alert_open"]
