"""``llmgate drift status`` and ``llmgate drift report`` through the CLI runner, on an SQLite file.

The store is filled through the store's and the monitor's own functions: conditions opened and
held by ``conditions.apply_report`` (as the worker does on each pass), and samples with prompt
vectors on two synthetic topics, so that ``drift report`` evaluates a group that drifted (its
current prompts all on one topic) and one that did not.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from click.testing import Result
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from llmgate.cli.main import app
from llmgate.monitors.conditions import apply_report
from llmgate.monitors.evaluate import GroupReport
from llmgate.store import monitors as queries
from llmgate.store.db import create_engine_for
from llmgate.store.migrate import upgrade
from support.migrated import copy_migrated
from support.monitoring import MemorySink

ROUTE = "chat/completions"
DIM = 16


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Engine]:
    copy_migrated(f"sqlite:///{tmp_path / 'store.db'}")  # migrated once per session (support/migrated.py)
    engine = create_engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)  # a no-op at head
    yield engine
    engine.dispose()


@pytest.fixture
def config(tmp_path: Path, store: Engine) -> Path:
    path = tmp_path / "llmgate.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "model_list": [{"model_name": "mock-echo", "litellm_params": {"model": "mock/echo"}}],
                "llmgate": {
                    "database_url": f"sqlite:///{tmp_path / 'store.db'}",
                    "monitors": {"drift": {"window": "1h", "reference_size": 40, "min_samples": 10}},
                },
            }
        )
    )
    return path


def run(config: Path, *args: str) -> Result:
    return CliRunner().invoke(app, [*args, "--config", str(config)])


# --- drift status: the delay the alert reported ---------------------------------------------------


def _breached(now: datetime, first_at: datetime) -> GroupReport:
    return GroupReport(
        model="support-bot",
        route=ROUTE,
        at=now,
        status="drifted",
        reference={"kind": "first", "size": 40, "n": 40},
        current={"window": "1h", "n": 60},
        statistics=[
            {
                "kind": "prompt",
                "name": "mmd",
                "value": 0.05,
                "threshold": 0.01,
                "p_value": 0.001,
                "breached": True,
                "details": {},
            }
        ],
        breached={"drift.prompt": ["mmd"]},
        first_drifted={"drift.prompt": {"record_id": "r-first", "at": first_at.isoformat()}},
        current_rows=[("r-first", first_at), ("r-last", now - timedelta(seconds=1))],
    )


def test_status_shows_the_delay_the_alert_reported_while_the_condition_holds(
    config: Path, store: Engine
) -> None:
    first = datetime.now(UTC) - timedelta(minutes=5)
    raised = first + timedelta(seconds=20.4)
    rng = np.random.default_rng(1)
    queries.insert_samples(
        store, [_sample(f"r-{i}", "support-bot", first, _unit(rng, np.eye(DIM)[0])) for i in range(3)]
    )
    sink = MemorySink()
    (alert,) = apply_report(store, _breached(raised, first), sinks=[sink], resolve_after=2, now=raised)
    assert alert.details["detection_delay_s"] == 20.4
    assert "detected after 20.4 s" in alert.title
    # the next passes still see it drifted: the condition holds, nothing more is raised
    for later in (30, 60):
        now = raised + timedelta(seconds=later)
        assert apply_report(store, _breached(now, first), sinks=[sink], resolve_after=2, now=now) == []

    result = run(config, "drift", "status", "--format", "json")
    assert result.exit_code == 0, result.output
    (group,) = json.loads(result.output)["groups"]
    assert group["status"] == "alerting"
    (condition,) = group["open_conditions"]
    assert condition["detection_delay_s"] == alert.details["detection_delay_s"]

    table = run(config, "drift", "status")
    assert table.exit_code == 0, table.output
    cells = " ".join(re.sub("[│┃]", " ", table.output).split())  # a cell may wrap onto the next line
    assert "(delay 20.4 s)" in cells
    assert "delay -" not in cells
    # the dashboard's alert list reads the same conditions: what the alert said is still there
    stored = queries.conditions(store, active=True)[0]["details"]
    assert stored["first_drifted_record"] == "r-first" and stored["detection_delay_s"] == 20.4


# --- drift report: an exit code for cron and CI ---------------------------------------------------


def _unit(rng: np.random.Generator, centre: np.ndarray[Any, Any]) -> bytes:
    vector = centre + rng.normal(0.0, 0.15, DIM)
    return (vector / np.linalg.norm(vector)).astype(np.float32).tobytes()


def _samples(engine: Engine, now: datetime) -> None:
    """Two topics; the reference of each model has both, half and half. ``drifty`` now gets only
    the second, ``steady`` still gets both."""
    rng = np.random.default_rng(7)
    topics = [np.eye(DIM)[0], np.eye(DIM)[1]]
    rows = []
    for model, current in (("drifty", [topics[1]]), ("steady", topics)):
        for i in range(40):
            at = now - timedelta(hours=3) + timedelta(seconds=i)
            rows.append(_sample(f"{model}-ref-{i:03}", model, at, _unit(rng, topics[i % 2])))
        for i in range(60):
            at = now - timedelta(minutes=30) + timedelta(seconds=i)
            rows.append(_sample(f"{model}-cur-{i:03}", model, at, _unit(rng, current[i % len(current)])))
    queries.insert_samples(engine, rows)


def _sample(record_id: str, model: str, at: datetime, vector: bytes) -> dict[str, Any]:
    return {
        "record_id": record_id,
        "created_at": at,
        "sampled_at": at,
        "model": model,
        "route": ROUTE,
        "embedder": "test",
        "dim": DIM,
        "prompt_vector": vector,
        "prompt_excerpt": f"prompt {record_id}",
    }


def test_report_exits_1_when_a_group_drifted_0_when_none_did_2_for_setup_errors(
    config: Path, store: Engine, tmp_path: Path
) -> None:
    empty = run(config, "drift", "report")
    assert empty.exit_code == 0, empty.output  # nothing sampled yet: nothing drifted
    _samples(store, datetime.now(UTC))

    steady = run(config, "drift", "report", "--model", "steady")
    assert steady.exit_code == 0, steady.output
    assert "STEADY" not in steady.output and "OK" in steady.output

    both = run(config, "drift", "report", "--format", "json")
    assert both.exit_code == 1, both.output
    assert {g["model"]: g["status"] for g in json.loads(both.output)["groups"]} == {
        "drifty": "drifted",
        "steady": "ok",
    }

    # setup and usage errors are 2, never mistaken for drift
    unknown = run(config, "drift", "report", "--model", "nobody")
    assert unknown.exit_code == 2 and "no monitored samples of model 'nobody'" in unknown.output
    assert run(config, "drift", "report", "--window", "soon").exit_code == 2
    missing = subprocess.run(  # config errors become exit 2 in the program's main()
        [
            sys.executable,
            "-m",
            "llmgate.cli.main",
            "drift",
            "report",
            "--config",
            str(tmp_path / "nope.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 2 and missing.stderr.startswith("error: config file not found")
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        yaml.safe_dump(
            {
                "model_list": [{"model_name": "m", "litellm_params": {"model": "mock/echo"}}],
                "llmgate": {"database_url": "postgresql+psycopg://nobody@127.0.0.1:1/none"},
            }
        )
    )
    unreachable = run(broken, "drift", "report")
    assert unreachable.exit_code == 2, unreachable.output
    assert unreachable.output.startswith("error: ") and len(unreachable.output.strip().splitlines()) == 1


def test_report_help_documents_the_exit_codes() -> None:
    result = CliRunner().invoke(app, ["drift", "report", "--help"], terminal_width=200)
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "Exit codes: 0 nothing drifted, 1 a model drifted" in text
    assert "2 a usage or setup error" in text


# --- drift baseline set: a bare date is midnight in llmgate.time_zone -----------------------------


def test_baseline_dates_are_midnight_in_the_time_zone(tmp_path: Path, store: Engine) -> None:
    """Samples a second before and after midnight starting 2026-11-01 in Tokyo (15:00 UTC the day
    before), and at 00:30 UTC: the window 2026-11-01 to 2026-11-02 holds the last two only."""
    vector = np.ones(DIM, dtype=np.float32).tobytes()
    moments = {
        "before": datetime(2026, 10, 31, 14, 59, 59, tzinfo=UTC),
        "at": datetime(2026, 10, 31, 15, tzinfo=UTC),
        "after_utc_midnight": datetime(2026, 11, 1, 0, 30, tzinfo=UTC),
    }
    queries.insert_samples(
        store,
        [
            {"record_id": name, "created_at": at, "sampled_at": at, "model": "m", "route": ROUTE}
            | {"embedder": "test", "dim": DIM, "prompt_vector": vector}
            for name, at in moments.items()
        ],
    )
    config = tmp_path / "tokyo.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model_list": [{"model_name": "m", "litellm_params": {"model": "mock/echo"}}],
                "llmgate": {"database_url": f"sqlite:///{tmp_path / 'store.db'}", "time_zone": "Asia/Tokyo"},
            }
        )
    )
    window = ("--since", "2026-11-01", "--until", "2026-11-02")
    result = run(config, "drift", "baseline", "set", "--model", "m", *window)
    assert result.exit_code == 1, result.output
    assert "only 2 sampled requests of 'm' in that window" in result.stderr
    backwards = run(
        config, "drift", "baseline", "set", "--model", "m", "--since", "2026-11-02", "--until", "2026-11-01"
    )
    assert backwards.exit_code == 2
    assert backwards.stderr.strip() == "error: --until: must be later than since"
