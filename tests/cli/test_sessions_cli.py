"""``llmgate sessions list`` and ``llmgate logs --session`` through the CLI runner, on a store with
calls inserted at chosen instants (the recorder's own ``insert_records``), on SQLite and PostgreSQL.

The list: one line per session with calls in the range, latest first, with its figures (exact
money, a call without a price counted apart); ``--since`` / ``--until`` as every command reads them
(a date is midnight in ``llmgate.time_zone``); ``--user`` / ``--model`` keep the sessions with such
a call; ``--limit``; table, CSV (formula-safe) and JSON; bad options one line and exit 2. A session
whose calls name parents outside it shows them at the root; an unknown session is exit 1.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from click.testing import Result
from typer.testing import CliRunner

from llmgate.cli.main import app
from llmgate.store.db import create_engine_for
from llmgate.store.migrate import upgrade
from llmgate.store.records import insert_records
from support.postgres import postgres_schema

TZ = "America/New_York"
DAY = datetime(2026, 11, 3, tzinfo=ZoneInfo(TZ))  # midnight in New York: 05:00 UTC
HOSTILE = '=HYPERLINK("http://evil.example","x")'


def row(n: int, session: str | None, at: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"{n:032x}",
        "created_at": at,
        "endpoint": "chat/completions",
        "model": "gpt",
        "status": "success",
        "status_code": 200,
        "prompt_tokens": 10 * n,
        "completion_tokens": n,
        "total_tokens": 11 * n,
        "cost_usd": Decimal("0.0000012345") * n,
        "latency_ms": 100.0 + n,
        "session_id": session,
        **extra,
    }


ROWS = [
    # "alpha": alice on gpt, the day before the range's day, and on it
    row(1, "alpha", DAY - timedelta(hours=2), user="alice", step="plan"),
    row(2, "alpha", DAY + timedelta(hours=1), user="alice", parent_id=f"{1:032x}", step="search"),
    # "beta": bob on gpt and claude, one error, one call without a price, a parent outside the session
    row(3, "beta", DAY + timedelta(hours=2), user="bob", step="plan"),
    row(4, "beta", DAY + timedelta(hours=3), user="bob", model="claude", status="error", status_code=502),
    row(
        5,
        "beta",
        DAY + timedelta(hours=4),
        user="bob",
        model="claude",
        cost_usd=None,
        cost_unknown=True,
        parent_id="f" * 32,
    ),
    # a hostile session id, the latest; and calls in no session
    row(6, HOSTILE, DAY + timedelta(hours=5)),
    row(7, None, DAY + timedelta(hours=1)),
    row(8, None, DAY + timedelta(hours=6)),
]


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def config(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    tmp = tmp_path_factory.mktemp("sessions-cli")

    def write(url: str) -> Path:
        engine = create_engine_for(url)
        upgrade(engine)
        insert_records(engine, ROWS)
        engine.dispose()
        path = tmp / "config.yaml"
        path.write_text(yaml.safe_dump({"model_list": [], "llmgate": {"database_url": url, "time_zone": TZ}}))
        return path

    if request.param == "sqlite":
        yield write(f"sqlite:///{tmp / 'store.db'}")
        return
    base = os.environ.get("LLMGATE_TEST_DATABASE_URL")
    if not base:
        pytest.skip("LLMGATE_TEST_DATABASE_URL is not set")
    with postgres_schema(base) as url:
        yield write(url)


def cli(config: Path, *args: str) -> Result:
    return CliRunner().invoke(app, [*args, "--config", str(config)])


def listed(config: Path, *args: str) -> list[dict[str, Any]]:
    result = cli(config, "sessions", "list", "--format", "json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_the_list_has_one_line_per_session_latest_first_with_its_figures(config: Path) -> None:
    sessions = listed(config)
    assert [s["session_id"] for s in sessions] == [HOSTILE, "beta", "alpha"]
    beta = sessions[1]
    assert (beta["calls"], beta["errors"], beta["users"], beta["models"]) == (
        3,
        1,
        ["bob"],
        ["claude", "gpt"],
    )
    assert (beta["prompt_tokens"], beta["completion_tokens"], beta["total_tokens"]) == (120, 12, 132)
    assert beta["cost_usd"] == "0.0000086415" and beta["cost_unknown"] == 1  # 3 + 4 priced; 5 unknown
    assert beta["first_at"] == ROWS[2]["created_at"].astimezone(UTC).isoformat()
    assert beta["last_at"] == ROWS[4]["created_at"].astimezone(UTC).isoformat()
    assert sessions[2]["users"] == ["alice"] and sessions[0]["users"] == []


def test_range_user_model_and_limit(config: Path) -> None:
    on_the_day = listed(config, "--since", "2026-11-03", "--until", "2026-11-04")
    alpha = next(s for s in on_the_day if s["session_id"] == "alpha")
    assert alpha["calls"] == 1 and alpha["prompt_tokens"] == 20  # the call the day before is outside
    assert [s["session_id"] for s in listed(config, "--until", "2026-11-03")] == ["alpha"]
    assert [s["session_id"] for s in listed(config, "--user", "bob")] == ["beta"]
    claude = listed(config, "--model", "claude")
    assert [s["session_id"] for s in claude] == ["beta"] and claude[0]["calls"] == 3  # every call counts
    assert listed(config, "--user", "alice", "--model", "claude") == []
    assert [s["session_id"] for s in listed(config, "--limit", "1")] == [HOSTILE]


def test_csv_and_table(config: Path) -> None:
    result = cli(config, "sessions", "list", "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["session_id"] for r in rows] == ["'" + HOSTILE, "beta", "alpha"]  # never a formula
    assert rows[1]["models"] == "claude gpt" and rows[1]["cost_usd"] == "0.0000086415"
    table = cli(config, "sessions", "list", "--since", "2026-11-03")
    assert table.exit_code == 0, table.output
    beta = next(line for line in table.stdout.splitlines() if line.strip().startswith("beta"))
    assert "2026-11-03 02:00:00" in beta and "claude, gpt" in beta and "$0.000008642 +?" in beta


def test_bad_options_are_one_line_and_exit_2(config: Path) -> None:
    for args in (("--since", "yesterday-ish"), ("--since", "2026-11-04", "--until", "2026-11-03")):
        result = cli(config, "sessions", "list", *args)
        assert result.exit_code == 2, result.output
        assert len(result.output.strip().splitlines()) == 1 and result.output.startswith("error:")


def test_logs_session_puts_a_parent_outside_the_session_at_the_root(config: Path) -> None:
    result = cli(config, "logs", "--session", "beta", "--format", "json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert [(c["id"][-1], c["depth"], c["parent_known"]) for c in shown["calls"]] == [
        ("3", 0, False),
        ("4", 0, False),
        ("5", 0, False),
    ]
    assert shown["totals"]["cost_usd"] == "0.0000086415" and shown["totals"]["cost_unknown"] == 1
    table = cli(config, "logs", "--session", "alpha")
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert any(line.strip().startswith("plan ") for line in lines)
    assert any(line.strip().startswith("└─ search ") for line in lines)
    assert "2 calls, no errors" in table.stdout


def test_an_unknown_session_is_exit_1_and_an_id_with_a_session_exit_2(config: Path) -> None:
    unknown = cli(config, "logs", "--session", "no-such-session")
    assert unknown.exit_code == 1 and "no recorded calls in session 'no-such-session'" in unknown.output
    both = cli(config, "logs", f"{1:032x}", "--session", "alpha")
    assert both.exit_code == 2 and "not both" in both.output
