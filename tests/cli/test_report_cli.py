"""``llmgate report spend|budgets|pricing-gaps`` through the CLI runner, on an SQLite file.

The store holds a handful of requests placed on the edges that matter in New York: local midnight
at month ends and the night daylight saving ends (2026-11-01, when 01:30 happens twice). Expected
numbers are written out by hand.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from click.testing import Result
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from llmgate.cli.main import app
from llmgate.store.db import create_engine_for
from llmgate.store.migrate import upgrade
from llmgate.store.models import table
from llmgate.store.records import insert_records
from support.migrated import copy_migrated

CREATED = datetime(2026, 9, 1, tzinfo=UTC)


def record(created_at: datetime, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": uuid.uuid4().hex,
        "created_at": created_at,
        "endpoint": "chat/completions",
        "model": "gpt-4o-mini",
        "provider": "openai",
        "deployment": "openai-1",
        "status": "success",
        "status_code": 200,
        "prompt_tokens": 100,
        "completion_tokens": 10,
        "cost_usd": Decimal("1.1111111111"),
        "latency_ms": 5.0,
    }
    row.update(overrides)
    return row


# (UTC instant, team, key, tags, cost, prompt, completion): New York is UTC-4 until 2026-11-01 06:00 UTC
ROWS = [
    (datetime(2026, 10, 1, 3, 59, 59, 999999, tzinfo=UTC), "search", None, None, "9", 1, 1),  # Sep 30: out
    (datetime(2026, 10, 1, 4, tzinfo=UTC), "search", "key_a", '{"feature": "chat"}', "1.1111111111", 100, 10),
    (datetime(2026, 11, 1, 3, 59, 59, 999999, tzinfo=UTC), "search", "key_a", None, "2.2222222222", 200, 20),
    (
        datetime(2026, 11, 1, 4, tzinfo=UTC),
        "search",
        "key_b",
        '{"feature": "search"}',
        "0.0000000001",
        300,
        30,
    ),
    (datetime(2026, 11, 1, 5, 30, tzinfo=UTC), "billing", "key_b", '{"feature": "search"}', None, 400, 0),
    (datetime(2026, 11, 1, 6, 30, tzinfo=UTC), "billing", None, '{"env": "prod"}', "3.3333333333", 500, 50),
    (datetime(2026, 12, 1, 4, 59, tzinfo=UTC), None, None, None, "4.4444444444", 600, 60),  # Nov 30, 23:59
    (datetime(2026, 12, 1, 5, tzinfo=UTC), "search", "key_a", None, "5", 1, 1),  # Dec 1: out
]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'data' / 'store.db'}"
    copy_migrated(url)  # migrated once per session (support/migrated.py)
    engine = create_engine_for(url)
    upgrade(engine)  # a no-op at head
    with engine.begin() as conn:
        for key_id, alias in (("key_a", "search-prod"), ("key_b", "batch")):
            conn.execute(
                sa.insert(table("api_keys")).values(
                    id=key_id,
                    key_hash=uuid.uuid4().hex * 2,
                    key_prefix="sk-lg-x",
                    alias=alias,
                    created_at=CREATED,
                    updated_at=CREATED,
                )
            )
    rows = []
    for moment, team, key, tags, cost, prompt, completion in ROWS:
        rows.append(
            record(
                moment,
                team_id=team,
                key_id=key,
                tags_json=tags,
                cost_usd=Decimal(cost) if cost else None,
                cost_unknown=cost is None,
                status="success" if cost else "error",
                status_code=200 if cost else 502,
                prompt_tokens=prompt,
                completion_tokens=completion,
            )
        )
    # December: one call the upstream answered (above) and three the response cache did
    for index, saved in enumerate(("0.0030000000", "0.0000040000", "0")):
        rows.append(
            record(
                datetime(2026, 12, 2, 15, index, tzinfo=UTC),
                team_id="search",
                key_id="key_a",
                cost_usd=Decimal(0),
                saved_usd=Decimal(saved),
                cache_hit=True,
                cache="semantic-hit" if index else "hit",
                cache_key=f"{index:064x}",
            )
        )
    insert_records(engine, rows)
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
                    "database_url": f"sqlite:///{tmp_path / 'data' / 'store.db'}",
                    "time_zone": "America/New_York",
                },
            }
        )
    )
    return path


def run(config: Path, *args: str) -> Result:
    result = CliRunner().invoke(app, ["report", *args, "--config", str(config)])
    assert result.exit_code == 0, result.output
    return result


SPAN = ("--since", "2026-10-01", "--until", "2026-12-01")


def test_spend_csv_by_team_and_month(config: Path) -> None:
    out = run(config, "spend", *SPAN, "--group-by", "team,month", "--format", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows == [
        {
            "team": "billing",
            "month": "2026-11",
            "requests": "2",
            "input_tokens": "900",
            "output_tokens": "50",
            "cost_usd": "3.3333333333",
            "succeeded": "1",
            "failed": "1",
            "rejected": "0",
            "saved_usd": "0.0000000000",
            "hit_rate": "0.0",
        },
        {
            "team": "search",
            "month": "2026-10",
            "requests": "2",
            "input_tokens": "300",
            "output_tokens": "30",
            "cost_usd": "3.3333333333",
            "succeeded": "2",
            "failed": "0",
            "rejected": "0",
            "saved_usd": "0.0000000000",
            "hit_rate": "0.0",
        },
        {
            "team": "search",
            "month": "2026-11",
            "requests": "1",
            "input_tokens": "300",
            "output_tokens": "30",
            "cost_usd": "0.0000000001",
            "succeeded": "1",
            "failed": "0",
            "rejected": "0",
            "saved_usd": "0.0000000000",
            "hit_rate": "0.0",
        },
        {
            "team": "(none)",
            "month": "2026-11",
            "requests": "1",
            "input_tokens": "600",
            "output_tokens": "60",
            "cost_usd": "4.4444444444",
            "succeeded": "1",
            "failed": "0",
            "rejected": "0",
            "saved_usd": "0.0000000000",
            "hit_rate": "0.0",
        },
        {
            "team": "TOTAL",
            "month": "",
            "requests": "6",
            "input_tokens": "2100",
            "output_tokens": "170",
            "cost_usd": "11.1111111111",
            "succeeded": "5",
            "failed": "1",
            "rejected": "0",
            "saved_usd": "0.0000000000",
            "hit_rate": "0.0",
        },
    ]


def test_spend_json_by_key_and_day(config: Path) -> None:
    data = json.loads(run(config, "spend", *SPAN, "--group-by", "key,day", "--format", "json").stdout)
    assert data["time_zone"] == "America/New_York"
    assert data["since"] == "2026-10-01T04:00:00+00:00" and data["until"] == "2026-12-01T05:00:00+00:00"
    assert [(r["key"], r["key_id"], r["day"], r["requests"], r["cost_usd"]) for r in data["rows"]] == [
        ("batch", "key_b", "2026-11-01", 2, "0.0000000001"),
        ("search-prod", "key_a", "2026-10-01", 1, "1.1111111111"),
        ("search-prod", "key_a", "2026-10-31", 1, "2.2222222222"),
        (None, None, "2026-11-01", 1, "3.3333333333"),  # 01:30 EST, the second time round
        (None, None, "2026-11-30", 1, "4.4444444444"),
    ]
    assert data["totals"] == {
        "requests": 6,
        "input_tokens": 2100,
        "output_tokens": 170,
        "cost_usd": "11.1111111111",
        "succeeded": 5,
        "failed": 1,
        "rejected": 0,
        "saved_usd": "0.0000000000",
        "hit_rate": 0.0,
    }


def test_spend_by_tag_week_and_provider(config: Path) -> None:
    data = json.loads(
        run(config, "spend", *SPAN, "--group-by", "tag:feature,week", "--format", "json").stdout
    )
    assert [(r["tag:feature"], r["week"], r["requests"]) for r in data["rows"]] == [
        ("chat", "2026-09-28", 1),
        ("search", "2026-10-26", 2),  # Sunday 2026-11-01 belongs to the week from Monday 2026-10-26
        (None, "2026-10-26", 2),
        (None, "2026-11-30", 1),
    ]
    csv_rows = list(
        csv.DictReader(
            io.StringIO(run(config, "spend", *SPAN, "--group-by", "provider", "--format", "csv").stdout)
        )
    )
    assert [(r["provider"], r["requests"]) for r in csv_rows] == [("openai", "6"), ("TOTAL", "6")]


def test_spend_table_rounds_to_cents_with_totals(config: Path) -> None:
    out = run(config, "spend", *SPAN, "--group-by", "team").stdout
    assert "cost (USD)" in out and "TOTAL" in out and "(none)" in out
    assert "11.11" in out and "11.1111111111" not in out


def test_spend_without_group_by_is_the_total(config: Path) -> None:
    rows = list(csv.reader(io.StringIO(run(config, "spend", *SPAN, "--format", "csv").stdout)))
    assert rows == [
        [
            "requests",
            "input_tokens",
            "output_tokens",
            "cost_usd",
            "succeeded",
            "failed",
            "rejected",
            "saved_usd",
            "hit_rate",
        ],
        ["6", "2100", "170", "11.1111111111", "5", "1", "0", "0.0000000000", "0.0"],
    ]


def test_spend_until_a_datetime_with_an_offset(config: Path) -> None:
    data = json.loads(
        run(
            config,
            "spend",
            "--since",
            "2026-11-01T04:00Z",
            "--until",
            "2026-11-01T06:30+00:00",
            "--format",
            "json",
        ).stdout
    )
    assert data["totals"]["requests"] == 2


def test_spend_shows_what_the_cache_saved_and_its_hit_rate(config: Path) -> None:
    span = ("--since", "2026-12-01", "--until", "2027-01-01")
    data = json.loads(run(config, "spend", *span, "--group-by", "team", "--format", "json").stdout)
    (search,) = data["rows"]
    assert search["team"] == "search" and search["requests"] == 4
    assert (search["cost_usd"], search["saved_usd"], search["hit_rate"]) == (
        "5.0000000000",
        "0.0030040000",
        0.75,
    )
    assert data["totals"]["saved_usd"] == "0.0030040000" and data["totals"]["hit_rate"] == 0.75
    rows = list(csv.DictReader(io.StringIO(run(config, "spend", *span, "--format", "csv").stdout)))
    assert [(r["cost_usd"], r["saved_usd"], r["hit_rate"]) for r in rows] == [
        ("5.0000000000", "0.0030040000", "0.75")
    ]
    table_out = run(config, "spend", *span, "--group-by", "team").stdout
    header = table_out.splitlines()[0]
    assert "saved (USD)" in header and "hit rate" in header
    assert "$0.003004" in table_out and "75.0%" in table_out and "$5.00" in table_out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--group-by", "team,region"], "error: --group-by: unknown group 'region'"),
        (["--since", "last tuesday"], "error: --since: expected e.g. 30m, 2h, 7d, 2026-11-01"),
        (["--since", "2026-11-02", "--until", "2026-11-01"], "error: --until: must be later than since"),
    ],
)
def test_spend_errors_are_one_line(config: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["report", "spend", *args, "--config", str(config)])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().startswith(message), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_budgets_json_and_table(config: Path, store: Engine) -> None:
    with store.begin() as conn:
        conn.execute(
            sa.insert(table("teams")).values(
                id="search",
                budget_usd=Decimal(10),
                budget_period="monthly",
                created_at=CREATED,
                updated_at=CREATED,
            )
        )
        conn.execute(
            sa.update(table("api_keys"))
            .where(table("api_keys").c.id == "key_b")
            .values(budget_usd=Decimal("0.5"), budget_period="weekly")
        )
    as_of = "2026-11-16T05:00:00+00:00"  # midnight in New York: 15 days 1 hour into a 30-day, 1-hour month
    data = json.loads(run(config, "budgets", "--as-of", as_of, "--format", "json").stdout)
    budgets = {(b["scope"], b["name"]): b for b in data["budgets"]}
    assert set(budgets) == {("key", "batch"), ("team", "search")}
    team = budgets["team", "search"]
    assert (
        team["period_start"] == "2026-11-01T04:00:00+00:00"
        and team["period_end"] == "2026-12-01T05:00:00+00:00"
    )
    assert team["spend_usd"] == "0.0000000001"
    start, end = datetime.fromisoformat(team["period_start"]), datetime.fromisoformat(team["period_end"])
    now = datetime(2026, 11, 16, 5, tzinfo=UTC)
    expected = (
        Decimal("0.0000000001")
        * Decimal((end - start) // timedelta(microseconds=1))
        / Decimal((now - start) // timedelta(microseconds=1))
    )
    assert Decimal(team["forecast_usd"]) == expected.quantize(Decimal("1e-10"))
    key = budgets["key", "batch"]
    assert key["period"] == "weekly" and key["spend_usd"] == "0.0000000000"  # its spend was the week before
    table_out = run(config, "budgets", "--as-of", as_of).stdout
    assert "batch" in table_out and "search" in table_out and "monthly" in table_out


def test_as_of_without_an_offset_is_wall_clock_time_in_the_time_zone(config: Path) -> None:
    # the config's llmgate.time_zone is America/New_York (as --since reads it: config/time_range.py)
    naive = json.loads(run(config, "budgets", "--as-of", "2026-11-16T00:00", "--format", "json").stdout)
    assert naive["as_of"] == "2026-11-16T05:00:00+00:00"
    day = json.loads(run(config, "budgets", "--as-of", "2026-11-16", "--format", "json").stdout)
    assert day["as_of"] == "2026-11-16T05:00:00+00:00"
    bad = CliRunner().invoke(app, ["report", "budgets", "--as-of", "soonish", "--config", str(config)])
    assert bad.exit_code == 2 and "--as-of: expected e.g." in bad.output


def test_pricing_gaps(config: Path) -> None:
    data = json.loads(run(config, "pricing-gaps", "--format", "json").stdout)
    assert data == [
        {
            "model": "gpt-4o-mini",
            "deployment": "openai-1",
            "provider": "openai",
            "requests": 1,
            "first_seen": "2026-11-01T05:30:00+00:00",
            "last_seen": "2026-11-01T05:30:00+00:00",
        }
    ]
    assert json.loads(run(config, "pricing-gaps", "--since", "2026-11-02", "--format", "json").stdout) == []
    assert "gpt-4o-mini" in run(config, "pricing-gaps").stdout


def test_a_store_nothing_wrote_to_yet_reports_zeros(tmp_path: Path) -> None:
    config = tmp_path / "fresh.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model_list": [{"model_name": "mock-echo", "litellm_params": {"model": "mock/echo"}}],
                "llmgate": {"database_url": f"sqlite:///{tmp_path / 'fresh' / 'store.db'}"},
            }
        )
    )
    result = run(config, "spend", "--group-by", "team", "--format", "json")
    data = json.loads(result.stdout)
    assert data["rows"] == [] and data["totals"]["requests"] == 0
    assert json.loads(run(config, "budgets", "--format", "json").stdout)["budgets"] == []
    assert json.loads(run(config, "pricing-gaps", "--format", "json").stdout) == []
    # read, never created: a mistyped path shows, on stderr, where no store is
    assert result.stderr == f"note: no store at {(tmp_path / 'fresh' / 'store.db').resolve()} " + (
        "(nothing has run here; --config FILE names a project's store)\n"
    )
    assert not (tmp_path / "fresh").exists()
