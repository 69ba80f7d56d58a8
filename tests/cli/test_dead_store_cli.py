"""Every command that reads the store, against a PostgreSQL that is not there: one line saying so,
exit 1, no traceback and no password (the real CLI, in a process of its own)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from llmgate.cli import main as cli_main

URL = "postgresql+psycopg://nobody:hunter2-secret@127.0.0.1:1/none"
COMMANDS = [
    ["report", "spend"],
    ["report", "spend", "--group-by", "key,day", "--since", "2026-11-01"],
    ["report", "budgets"],
    ["report", "ops", "--since", "7d"],
    ["logs"],
    ["sessions", "list"],
    ["keys", "list"],
    ["teams", "list"],
    ["audit"],
    ["eval", "list"],
    ["dataset", "list"],
    ["canary", "status"],
    ["db", "rollup", "--rebuild", "--since", "7d"],
]


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dead") / "config.yaml"
    path.write_text(yaml.safe_dump({"model_list": [], "llmgate": {"database_url": URL}}))
    return path


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_a_dead_store_is_one_line(config: Path, args: list[str]) -> None:
    script = Path(sys.executable).parent / "llmgate"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "llmgate.cli.main"]
    result = subprocess.run(
        [*command, *args, "--config", str(config)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1, result.stderr
    assert result.stdout == "" and result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "Connection refused" in result.stderr or "connection failed" in result.stderr
    assert "hunter2" not in result.stderr and "Traceback" not in result.stderr


def test_a_store_error_a_command_lets_through_is_one_line_too(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The last line of defence in ``main``: the driver's error, not its traceback."""

    def refuse(**_: object) -> None:
        raise sa.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr(cli_main, "app", refuse)
    with pytest.raises(SystemExit) as stopped:
        cli_main.main()
    assert stopped.value.code == 1
    err = capsys.readouterr().err
    assert err == "error: the store failed: Exception: server closed the connection unexpectedly\n"


def test_other_errors_are_not_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    def bug(**_: object) -> None:
        raise ZeroDivisionError("a bug of llmgate's, to be seen")

    monkeypatch.setattr(cli_main, "app", bug)
    with pytest.raises(ZeroDivisionError):
        cli_main.main()
