"""``llmgate logs`` against a store the writer has not migrated yet: no records, not ``no such table``.

The CLI through its runner, on a fresh SQLite path (the gateway has never run against it, so
there is no ``requests`` table), in both output formats.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from llmgate.cli.main import app


def test_logs_on_a_store_not_migrated_yet_says_there_are_no_records(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump({"model_list": [], "llmgate": {"database_url": f"sqlite:///{tmp_path / 'fresh.db'}"}})
    )
    runner = CliRunner()

    table = runner.invoke(app, ["logs", "--config", str(config)])
    assert table.exit_code == 0, table.output
    assert "no recorded requests" in table.output
    assert "no such table" not in table.output

    as_json = runner.invoke(app, ["logs", "--config", str(config), "--format", "json", "--since", "1h"])
    assert as_json.exit_code == 0, as_json.output
    assert as_json.stdout.strip() == "[]"  # the JSON stays clean: the note goes to stderr
    assert as_json.stderr.startswith(f"note: no store at {(tmp_path / 'fresh.db').resolve()} ")
    assert not (tmp_path / "fresh.db").exists()  # read, never created
