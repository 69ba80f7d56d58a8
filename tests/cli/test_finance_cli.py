"""Money for people in the CLI, on a store with tiny real costs (issue 15, items 4 and 6).

``report spend`` and ``report budgets`` show money as ``store.money.usd`` writes it (``$0.00429``,
never a ``0.00`` that hides real spend, never ``-0.00``), an over-budget scope reads ``exceeded``,
``report spend`` splits requests into succeeded, failed and rejected, and ``logs --format json``
gives each cost as an exact decimal string, as the reports do. Through the CLI runner, on SQLite.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from llmgate.cli.main import app
from llmgate.store.db import create_engine_for
from llmgate.store.migrate import upgrade
from llmgate.store.models import table
from llmgate.store.money import usd
from llmgate.store.records import insert_records
from support.keys import add_key, add_team
from support.migrated import copy_migrated

WHEN = datetime(2026, 11, 10, 12, tzinfo=UTC)
AS_OF = datetime(2026, 11, 10, 18, tzinfo=UTC)


def record(cost: str | None, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": uuid.uuid4().hex,
        "created_at": WHEN,
        "endpoint": "chat/completions",
        "model": "gpt-4o-mini",
        "provider": "openai",
        "deployment": "openai-1",
        "status": "success",
        "status_code": 200,
        "prompt_tokens": 1430,
        "completion_tokens": 1,
        "cost_usd": Decimal(cost) if cost is not None else None,
        "latency_ms": 5.0,
    }
    row.update(overrides)
    return row


REJECTED = {"status": "error", "provider": None, "deployment": None, "cost_usd": None}
ROWS = [
    record("0.00429", team_id="search"),  # the CSV figure: the table read 0.00
    record("0.001372", team_id="ops"),
    record(None, team_id="ops", status="error", status_code=502),  # the upstream's 500
    record(None, team_id="ops", status="error", status_code=429),  # the upstream's own 429
    record(None, team_id="ops", status_code=429, error_type="budget_exceeded", **REJECTED),
    record(None, team_id="ops", status_code=403, error_type="permission_error", **REJECTED),
]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Engine]:
    copy_migrated(f"sqlite:///{tmp_path / 'store.db'}")  # migrated once per session (support/migrated.py)
    engine = create_engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)  # a no-op at head
    insert_records(engine, ROWS)
    yield engine
    engine.dispose()


@pytest.fixture
def config(tmp_path: Path, store: Engine) -> Path:
    path = tmp_path / "llmgate.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "model_list": [{"model_name": "mock-echo", "litellm_params": {"model": "mock/echo"}}],
                "llmgate": {"database_url": f"sqlite:///{tmp_path / 'store.db'}"},
            }
        )
    )
    return path


def run(config: Path, *args: str) -> str:
    result = CliRunner().invoke(app, [*args, "--config", str(config)])
    assert result.exit_code == 0, result.output
    return result.stdout


def cells(out: str, first: str) -> list[str]:
    """The cells of the table row that starts with ``first`` (cells never hold spaces here)."""
    [line] = [line for line in out.splitlines() if line.split()[:1] == [first]]
    return line.split()


SINCE = ("--since", "2026-11-10", "--until", "2026-11-11")


def test_usd_shows_what_a_small_amount_needs() -> None:
    shown = {
        "0.0042900000": "$0.00429",
        "0.001372": "$0.001372",
        "0.0010000000": "$0.001",
        "0.0000000001": "$0.0000000001",
        "0.5": "$0.50",
        "0.1296": "$0.1296",
        "12.3456": "$12.35",
        "1234.5": "$1,234.50",
        "-0.000372": "-$0.000372",
        "-0": "$0.00",
        "0E-10": "$0.00",
    }
    assert {amount: usd(Decimal(amount)) for amount in shown} == shown


def test_spend_table_shows_small_costs(config: Path) -> None:
    out = run(config, "report", "spend", *SINCE, "--group-by", "team")
    assert cells(out, "search")[-1] == "$0.00429"
    assert cells(out, "ops")[-1] == "$0.001372"
    assert cells(out, "TOTAL")[-1] == "$0.005662"
    assert "0.00" not in out.split()  # what the table said for all three before


def test_spend_splits_succeeded_failed_and_rejected(config: Path) -> None:
    out = run(config, "report", "spend", *SINCE, "--group-by", "team")
    assert out.split()[:5] == ["team", "requests", "succeeded", "failed", "rejected"]
    assert cells(out, "ops")[1:5] == ["5", "1", "2", "2"]
    assert cells(out, "search")[1:5] == ["1", "1", "0", "0"]
    assert cells(out, "TOTAL")[1:5] == ["6", "2", "2", "2"]
    data = json.loads(run(config, "report", "spend", *SINCE, "--group-by", "team", "--format", "json"))
    ops = next(row for row in data["rows"] if row["team"] == "ops")
    assert (ops["requests"], ops["succeeded"], ops["failed"], ops["rejected"]) == (5, 1, 2, 2)
    rows = list(csv.DictReader(io.StringIO(run(config, "report", "spend", *SINCE, "--format", "csv"))))
    assert rows == [
        {
            "requests": "6",
            "input_tokens": "8580",
            "output_tokens": "6",
            "cost_usd": "0.0056620000",
            "succeeded": "2",
            "failed": "2",
            "rejected": "2",
            "saved_usd": "0.0000000000",
            "hit_rate": "0.0",
        }
    ]


def test_budgets_table_says_exceeded_with_the_amounts(config: Path, store: Engine) -> None:
    with store.begin() as conn:
        for team, budget in (("ops", "0.001"), ("search", "25")):
            conn.execute(
                sa.insert(table("teams")).values(
                    id=team,
                    budget_usd=Decimal(budget),
                    budget_period="daily",
                    created_at=WHEN,
                    updated_at=WHEN,
                )
            )
    out = run(config, "report", "budgets", "--as-of", AS_OF.isoformat())
    assert out.split()[:9] == [
        "scope",
        "name",
        "status",
        "period",
        "budget",
        "spend",
        "left",
        "forecast",
        "used",
    ]
    rows = {line.split()[1]: line.split() for line in out.splitlines()[1:]}
    ops = rows["ops"]
    assert ops[1:7] == ["ops", "exceeded", "daily", "$0.001", "$0.001372", "-$0.000372"]
    assert ops[-1] == "137.2%"
    assert "-0.00" not in out and "-$0.00 " not in out
    assert rows["search"][1:6] == ["search", "active", "daily", "$25.00", "$0.00429"]


def test_logs_json_gives_exact_costs(config: Path) -> None:
    data = json.loads(run(config, "logs", "--format", "json", "--limit", "10"))
    costs = sorted(row["cost_usd"] for row in data if row["cost_usd"] is not None)
    assert costs == ["0.0013720000", "0.0042900000"]
    assert {Decimal(cost) for cost in costs} == {Decimal("0.001372"), Decimal("0.00429")}


def test_keys_and_teams_lists_show_budgets_as_money(config: Path, store: Engine) -> None:
    add_team(store, "ops", budget_usd="0.001", budget_period="daily")
    add_key(store, "tiny", team_id="ops", budget_usd="0.0005")
    keys = run(config, "keys", "list").splitlines()
    assert "budget" in keys[0].split() and "budget $" not in keys[0]
    assert "$0.0005" in next(line.split() for line in keys if "tiny" in line.split())
    teams = run(config, "teams", "list").splitlines()
    assert "$0.001" in next(line.split() for line in teams if "ops" in line.split())
