"""``llmgate db prune`` through the CLI runner: per table what would go (``--dry-run``: nothing
changes) and what went, in how many batches and how long; a config that keeps everything says so;
and ``serve``'s start lines say what is kept how long."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from llmgate.cli.main import app
from llmgate.cli.serve import start_lines
from llmgate.config import parse_config
from llmgate.store.db import create_engine_for
from llmgate.store.migrate import upgrade
from llmgate.store.records import count_records, insert_records


def rows(days: int, n: int) -> list[dict[str, Any]]:
    at = datetime.now(UTC) - timedelta(days=days)
    return [
        {
            "id": uuid.uuid4().hex,
            "created_at": at,
            "endpoint": "chat/completions",
            "model": "m",
            "status": "success",
            "status_code": 200,
            "latency_ms": 1.0,
            "request_json": "{}",
            "response_text": "a",
        }
        for _ in range(n)
    ]


def setup(tmp_path: Path, retention: dict[str, Any] | None) -> str:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = create_engine_for(url)
    upgrade(engine)
    insert_records(engine, rows(100, 7) + rows(40, 5) + rows(1, 3))
    engine.dispose()
    settings: dict[str, Any] = {"database_url": url}
    if retention is not None:
        settings["retention"] = retention
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"model_list": [], "llmgate": settings}))
    return str(path)


def stored(config: str) -> int:
    url = yaml.safe_load(Path(config).read_text())["llmgate"]["database_url"]
    engine = create_engine_for(url)
    try:
        return count_records(engine)
    finally:
        engine.dispose()


def test_dry_run_then_prune(tmp_path: Path) -> None:
    config = setup(tmp_path, {"requests": "60d", "bodies": "30d"})
    dry = CliRunner().invoke(app, ["db", "prune", "--dry-run", "--config", config])
    assert dry.exit_code == 0, dry.output
    assert "requests: 7 rows would be deleted (older than " in dry.output
    assert "requests: 5 bodies would be blanked" in dry.output
    assert "12 rows and bodies would go (dry run: nothing changed)" in dry.output
    assert stored(config) == 15
    done = CliRunner().invoke(app, ["db", "prune", "--config", config])
    assert done.exit_code == 0, done.output
    assert "requests: 7 rows deleted (older than " in done.output and "in 1 batch, " in done.output
    assert "requests: 5 bodies blanked" in done.output
    assert stored(config) == 8


def test_keeping_everything_prunes_nothing(tmp_path: Path) -> None:
    config = setup(tmp_path, None)
    result = CliRunner().invoke(app, ["db", "prune", "--config", config])
    assert result.exit_code == 0
    assert "everything is kept forever" in result.output and "nothing to prune" in result.output
    assert stored(config) == 15


def test_serve_says_what_is_kept_at_start(tmp_path: Path) -> None:
    cfg = parse_config({"model_list": [], "llmgate": {"database_url": "sqlite://"}})
    assert start_lines(cfg, "c.yaml", "127.0.0.1", 4000)[-1].startswith(
        "retention: everything is kept forever"
    )
    cfg = parse_config(
        {"model_list": [], "llmgate": {"database_url": "sqlite://", "retention": {"bodies": "7d"}}}
    )
    assert start_lines(cfg, "c.yaml", "127.0.0.1", 4000)[-1] == (
        "retention: bodies 7 d, pruned every 1 h; kept forever: requests, monitor_samples, eval_results, audit_log, scores"
    )


def test_an_unreachable_store_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    url = "postgresql+psycopg://nobody:secret@127.0.0.1:1/none"
    path.write_text(
        yaml.safe_dump({"model_list": [], "llmgate": {"database_url": url, "retention": {"requests": "30d"}}})
    )
    result = CliRunner().invoke(app, ["db", "prune", "--config", str(path)])
    assert result.exit_code == 1
    assert result.output.startswith("error: prune stopped: ") and result.output.count("\n") == 1
    assert "secret" not in result.output and "Traceback" not in result.output
