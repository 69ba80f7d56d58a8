"""``llmgate report ops`` through the CLI runner, on an SQLite file seeded by ``support/ops_seed.py``:
the three formats agree with the seed's truths, ranges are read in ``llmgate.time_zone``, bad
ranges are one line and exit 2, and an empty window (or a store nothing wrote to) still reports."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import Result
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from llmgate.cli.main import app
from llmgate.store.db import create_engine_for
from llmgate.store.migrate import upgrade
from support.migrated import copy_migrated
from support.ops_seed import CANARIES, SINCE, UNTIL, all_requests, seed

#: the window in New York (UTC-5 in November): the seed's day, as local wall-clock times
SPAN = ("--since", "2026-11-01T19:00", "--until", "2026-11-02T19:00")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'data' / 'store.db'}"
    copy_migrated(url)  # migrated once per session (support/migrated.py)
    engine = create_engine_for(url)
    upgrade(engine)  # a no-op at head
    seed(engine)
    yield engine
    engine.dispose()


def write_config(path: Path, database: Path) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "model_list": [{"model_name": "mock-echo", "litellm_params": {"model": "mock/echo"}}],
                "llmgate": {"database_url": f"sqlite:///{database}", "time_zone": "America/New_York"},
            }
        )
    )
    return path


@pytest.fixture
def config(tmp_path: Path, store: Engine) -> Path:
    return write_config(tmp_path / "llmgate.yaml", tmp_path / "data" / "store.db")


def run(config: Path, *args: str) -> Result:
    result = CliRunner().invoke(app, ["report", "ops", *args, "--config", str(config)])
    assert result.exit_code == 0, result.output
    return result


def test_json(config: Path) -> None:
    data = json.loads(run(config, *SPAN, "--format", "json").stdout)
    assert (data["since"], data["until"]) == (SINCE.isoformat(), UNTIL.isoformat())
    assert data["time_zone"] == "America/New_York"
    kinds = {line["kind"]: line for line in data["alerts"]["kinds"]}
    # drift.prompt: detected after 30 min and 1 h (mean 45 min), one resolved after 3 h
    assert (kinds["drift.prompt"]["mttd_s"], kinds["drift.prompt"]["mttr_s"]) == (2700, 10800)
    chat = next(g for g in data["availability"]["model_groups"] if g["name"] == "chat")
    assert (chat["availability"], chat["availability_without_fallbacks"]) == (0.8, 0.2)
    assert data["coverage"]["requests"] == sum(r.in_window for r in all_requests())
    assert {i["id"] for i in data["canaries"]["items"]} == {c.id for c in CANARIES if c.listed}


def test_csv(config: Path) -> None:
    rows = list(csv.reader(io.StringIO(run(config, *SPAN, "--format", "csv").stdout)))
    assert rows[0] == ["section", "name", "metric", "value"]
    figures = {(r[0], r[1], r[2]): r[3] for r in rows[1:]}
    assert figures[("alerts", "canary.rolled_back", "mttr_s")] == "5.0"
    assert figures[("model_groups", "chat", "fallback_rate")] == "0.4"
    assert figures[("canary", "chat-v2", "candidate_requests")] == "3"


def test_table(config: Path) -> None:
    out = run(config, *SPAN).stdout
    for title in (
        "Alerts",
        "Availability per model group",
        "per deployment",
        "Canaries",
        "Monitoring coverage",
    ):
        assert f"\n{title}\n" in out
    lines = [line.strip() for line in out.splitlines()]
    prompt = next(line for line in lines if line.startswith("drift.prompt "))
    assert "45 min" in prompt and "3 h" in prompt
    chat = next(line for line in lines if line.startswith("chat "))
    assert "80.00%" in chat and "20.00%" in chat and "40.00%" in chat and "60.00%" in chat
    assert "models with a scheduled eval run: chat" in out


def test_the_range_is_read_in_the_time_zone(config: Path) -> None:
    # a bare date is midnight in llmgate.time_zone: 05:00 UTC in New York in November
    data = json.loads(
        run(config, "--since", "2026-11-02", "--until", "2026-11-03", "--format", "json").stdout
    )
    assert data["since"] == "2026-11-02T05:00:00+00:00"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "last tuesday"], "error: --since: expected e.g. 30m, 2h, 7d, 2026-11-01"),
        (["--since", "2026-11-02", "--until", "2026-11-01"], "error: --until: must be later than since"),
        (["--since", "99999d"], "error: --since: '99999d' is out of range"),
        (["--since", ""], "error: --since: required"),
    ],
)
def test_bad_ranges_are_one_line(config: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["report", "ops", *args, "--config", str(config)])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().startswith(message), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_since_is_required(config: Path) -> None:
    result = CliRunner().invoke(app, ["report", "ops", "--config", str(config)])
    assert result.exit_code == 2 and "--since" in result.output


def test_an_empty_window(config: Path) -> None:
    args = ("--since", "2027-01-01", "--until", "2027-01-02")
    data = json.loads(run(config, *args, "--format", "json").stdout)
    assert data["alerts"]["kinds"] == [] and data["availability"]["model_groups"] == []
    assert data["coverage"]["requests"] == 0 and data["coverage"]["sampled_share"] is None
    out = run(config, *args).stdout
    assert "none in this range" in out and "MTTD over 0 alert(s)" in out
    assert run(config, *args, "--format", "csv").stdout.startswith("section,name,metric,value")


def test_a_store_nothing_wrote_to_yet(tmp_path: Path) -> None:
    config = write_config(tmp_path / "fresh.yaml", tmp_path / "fresh" / "store.db")
    data = json.loads(run(config, "--since", "7d", "--format", "json").stdout)
    assert data["availability"]["total"]["requests"] == 0 and data["canaries"]["items"] == []
    assert not (tmp_path / "fresh").exists()  # read, never created
