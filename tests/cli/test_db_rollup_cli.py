"""``llmgate db rollup --rebuild`` through the CLI runner: the rollups summed again from the raw
rows (from ``--since``'s hour, in ``llmgate.time_zone``), one line saying how many; without
``--rebuild`` or with a bad ``--since``, one line and a non-zero exit."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml
from typer.testing import CliRunner

from llmgate.cli.main import app
from llmgate.store.db import create_engine_for
from llmgate.store.migrate import upgrade
from llmgate.store.records import insert_records
from llmgate.store.rollup_tables import ROLLUP_HOURS

TZ = "America/New_York"


def row(at: datetime) -> dict[str, Any]:
    return {
        "id": uuid.uuid4().hex,
        "created_at": at,
        "endpoint": "chat/completions",
        "model": "m",
        "status": "success",
        "status_code": 200,
        "latency_ms": 1.0,
        "cost_usd": Decimal("0.25"),
    }


def setup(tmp_path: Path) -> tuple[str, str]:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = create_engine_for(url)
    upgrade(engine)
    start = datetime(2026, 11, 1, 12, tzinfo=UTC)
    insert_records(engine, [row(start + timedelta(hours=h)) for h in range(48)])
    with engine.begin() as conn:  # rollups lost, as if the store had been upgraded with these rows in it
        conn.execute(sa.delete(ROLLUP_HOURS))
    engine.dispose()
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"llmgate": {"database_url": url, "time_zone": TZ}}))
    return url, str(path)


def hour_sums(url: str) -> tuple[int, Decimal]:
    engine = create_engine_for(url)
    with engine.connect() as conn:
        requests, cost = conn.execute(
            sa.select(sa.func.sum(ROLLUP_HOURS.c.requests), sa.func.sum(ROLLUP_HOURS.c.cost_usd))
        ).one()
    engine.dispose()
    return int(requests or 0), cost or Decimal(0)


def test_rebuild_sums_the_rows_again_from_since(tmp_path: Path) -> None:
    url, config = setup(tmp_path)
    # midnight of 2026-11-02 in New York is 05:00 UTC: the rows from then on (31 of them)
    result = CliRunner().invoke(
        app, ["db", "rollup", "--rebuild", "--since", "2026-11-02", "--config", config]
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith(
        "rebuilt the rollups from 2026-11-02 05:00 UTC: 31 requests into 31 hourly"
    )
    assert hour_sums(url) == (31, Decimal("7.75"))
    result = CliRunner().invoke(app, ["db", "rollup", "--rebuild", "--config", config])
    assert result.exit_code == 0, result.output
    assert hour_sums(url) == (48, Decimal("12"))


def test_without_rebuild_or_with_a_bad_since_it_says_so_in_one_line(tmp_path: Path) -> None:
    _, config = setup(tmp_path)
    result = CliRunner().invoke(app, ["db", "rollup", "--config", config])
    assert result.exit_code != 0
    assert "--rebuild" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(
        app, ["db", "rollup", "--rebuild", "--since", "last tuesday", "--config", config]
    )
    assert result.exit_code == 2
    assert "since" in result.output and "Traceback" not in result.output
