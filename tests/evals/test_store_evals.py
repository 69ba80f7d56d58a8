"""``store/evals.py`` on SQLite: runs, results, baselines, latest runs, id prefixes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from llmgate.store import evals as store
from llmgate.store.db import create_engine_for

T0 = datetime(2026, 11, 1, 9, tzinfo=UTC)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'evals.db'}")
    store.ensure_schema(engine)
    store.ensure_schema(engine)  # a no-op at head
    yield engine
    engine.dispose()


def add_run(
    engine: Engine, run_id: str, suite: str, model: str, minutes: int, status: str = "passed"
) -> None:
    store.insert_run(
        engine,
        {
            "id": run_id,
            "suite": suite,
            "suite_hash": "h",
            "model": model,
            "status": "running",
            "started_at": T0 + timedelta(minutes=minutes),
        },
    )
    if status != "running":
        store.finish_run(
            engine,
            run_id,
            {"status": status, "finished_at": T0 + timedelta(minutes=minutes + 1), "cases": 2, "passed": 1},
            [
                {
                    "case_id": "a",
                    "repetition": 0,
                    "passed": True,
                    "score": 1.0,
                    "cost_usd": Decimal("0.0000000001"),
                },
                {"case_id": "b", "repetition": 0, "passed": False, "score": 0.25, "error": None},
            ],
        )


def test_runs_and_results(engine: Engine) -> None:
    add_run(engine, "aaa111", "qa", "m1", 0)
    add_run(engine, "aaa222", "qa", "m1", 5, status="failed")
    add_run(engine, "bbb111", "rag", "m1", 3)
    add_run(engine, "ccc111", "qa", "m2", 7, status="running")

    assert [r["id"] for r in store.list_runs(engine)] == ["ccc111", "aaa222", "bbb111", "aaa111"]
    assert [r["id"] for r in store.list_runs(engine, suite="qa", model="m1")] == ["aaa222", "aaa111"]
    assert [r["id"] for r in store.list_runs(engine, limit=1)] == ["ccc111"]
    run = store.get_run(engine, "aaa222")
    assert run is not None and run["status"] == "failed" and run["started_at"] == T0 + timedelta(minutes=5)
    assert store.get_run(engine, "nope") is None
    results = store.get_results(engine, "aaa111")
    assert [(r["case_id"], r["passed"], r["score"]) for r in results] == [
        ("a", True, 1.0),
        ("b", False, 0.25),
    ]
    assert results[0]["cost_usd"] == Decimal("0.0000000001")

    latest = store.latest_runs(engine)
    assert [(r["suite"], r["model"], r["id"]) for r in latest] == [
        ("qa", "m1", "aaa222"),
        ("rag", "m1", "bbb111"),
    ]
    with_running = store.latest_runs(engine, suite="qa", finished_only=False)
    assert [r["id"] for r in with_running] == ["aaa222", "ccc111"]
    assert [r["id"] for r in store.running_runs(engine)] == ["ccc111"]


def test_id_prefixes(engine: Engine) -> None:
    add_run(engine, "aaa111", "qa", "m1", 0)
    add_run(engine, "aaa222", "qa", "m1", 1)
    add_run(engine, "a_b%", "qa", "m1", 2)
    found = store.find_run(engine, "aaa1")
    assert found is not None and found["id"] == "aaa111"
    assert store.find_run(engine, "zzz") is None
    with pytest.raises(store.AmbiguousRun, match="matches several runs"):
        store.find_run(engine, "aaa")
    assert store.find_run(engine, "a_") is not None  # LIKE wildcards are taken literally
    assert store.find_run(engine, "a%") is None


def test_baselines(engine: Engine) -> None:
    add_run(engine, "aaa111", "qa", "m1", 0)
    add_run(engine, "aaa222", "qa", "m1", 1)
    assert store.get_baseline(engine, "qa", "m1") is None
    store.set_baseline(engine, "qa", "m1", "aaa111", at=T0)
    store.set_baseline(engine, "qa", "m2", "aaa111", at=T0)
    store.set_baseline(engine, "qa", "m1", "aaa222", at=T0 + timedelta(hours=1))  # replaces
    baseline = store.get_baseline(engine, "qa", "m1")
    assert baseline == {"suite": "qa", "model": "m1", "run_id": "aaa222", "set_at": T0 + timedelta(hours=1)}
    assert [(b["model"], b["run_id"]) for b in store.list_baselines(engine)] == [
        ("m1", "aaa222"),
        ("m2", "aaa111"),
    ]
