"""``llmgate canary ...`` through the CLI runner, end to end on an SQLite store: a canary started,
shown, paused, resumed, promoted, rolled back, its history and its export; bad values are one line
and exit code 2, refusals one line and exit code 1; every change is in the audit log."""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import Result
from typer.testing import CliRunner

from llmgate.cli.main import app
from llmgate.store.db import create_engine_for
from llmgate.store.keys import list_audit


class Cli:
    def __init__(self, config: Path) -> None:
        self.config = config
        self.runner = CliRunner()

    def __call__(self, *args: str) -> Result:
        return self.runner.invoke(app, [*args, "--config", str(self.config)])

    def ok(self, *args: str) -> Result:
        result = self(*args)
        assert result.exit_code == 0, result.output
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--format", "json").stdout)

    def error(self, code: int, *args: str) -> str:
        result = self(*args)
        assert result.exit_code == code, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
        assert result.stdout == ""
        return lines[0]


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    config = {
        "model_list": [
            {"model_name": "chat-model", "litellm_params": {"model": "mock/echo"}},
            {"model_name": "chat-model-v2", "litellm_params": {"model": "mock/echo", "temperature": 0.1}},
        ],
        "llmgate": {"database_url": f"sqlite:///{tmp_path / 'store.db'}"},
    }
    path = tmp_path / "llmgate.yaml"
    path.write_text(yaml.safe_dump(config))
    return Cli(path)


def test_a_canary_from_start_to_export(cli: Cli, tmp_path: Path) -> None:
    started = cli.ok("canary", "start", "chat-model", "--candidate", "chat-model-v2", "--steps", "10,50,100")
    assert "Started canary chat-model: 10% of chat-model to chat-model-v2." in started.stdout

    shown = cli.json("canary", "status", "chat-model")
    assert (shown["status"], shown["percent"], shown["steps"]) == ("running", 10.0, [10.0, 50.0, 100.0])
    assert shown["gates"][0] == "errors" and shown["sticky"] == "user"
    listed = cli.json("canary", "status")
    assert [c["id"] for c in listed] == ["chat-model"]
    assert "chat-model-v2" in cli.ok("canary", "status").stdout

    assert "paused at 10%" in cli.ok("canary", "pause", "chat-model").stdout
    assert cli.json("canary", "status", "chat-model")["status"] == "paused"
    assert "running again" in cli.ok("canary", "resume", "chat-model").stdout
    assert "at 50%" in cli.ok("canary", "promote", "chat-model").stdout
    assert "promoted: the candidate serves all traffic" in cli.ok("canary", "promote", "chat-model").stdout

    history = cli.json("canary", "history", "chat-model")
    assert [e["action"] for e in history] == ["start", "pause", "resume", "step", "promote"]
    assert {e["actor"] for e in history} == {f"cli:{getpass.getuser()}"}
    table = cli.ok("canary", "history").stdout
    assert "promote" in table and "next step by hand" in table

    exported = cli.ok("canary", "export", "chat-model").stdout
    assert yaml.safe_load(exported) == {
        "model_list": [
            {"model_name": "chat-model", "litellm_params": {"model": "mock/echo", "temperature": 0.1}}
        ]
    }

    engine = create_engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        audit = [entry.action for entry in list_audit(engine, target="chat-model")]
    finally:
        engine.dispose()
    assert audit == ["canary.start", "canary.pause", "canary.resume", "canary.step", "canary.promote"]


def test_rollback_with_a_reason_and_a_variant_candidate(cli: Cli) -> None:
    started = cli.json(
        "canary", "start", "chat-model", "--system-prompt", "Be brief.", "--param", "temperature=0.2",
        "--param", "seed=7", "--sticky", "session", "--gates", "errors,latency", "--id", "brief",
    )  # fmt: skip
    assert started["candidate"]["params"] == {"temperature": 0.2, "seed": 7}
    assert started["candidate"]["system_prompt"] == "Be brief." and started["gates"] == ["errors", "latency"]
    rolled = cli.json("canary", "rollback", "brief", "--reason", "too terse")
    assert (rolled["status"], rolled["percent"]) == ("rolled_back", 0.0)
    (event,) = [e for e in cli.json("canary", "history", "brief") if e["action"] == "rollback"]
    assert event["details"]["reason"] == "too terse"
    assert "candidate's system prompt" in cli.ok("canary", "export", "brief").stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--candidate", "chat-model-v2", "--steps", "10,x,100"], "step 'x' is not a number"),
        (["--candidate", "chat-model-v2", "--steps", "50,10,100"], "steps must increase strictly"),
        (["--candidate", "chat-model-v2", "--gates", "errors,vibes"], "unknown gate 'vibes'"),
        (["--candidate", "nope"], "candidate.model: 'nope' is not a model_name in model_list"),
        (
            ["--candidate", "chat-model-v2", "--param", "temperature"],
            "--param: 'temperature' is not KEY=VALUE",
        ),
        ([], "give model, deployment, system_prompt or params"),
    ],
)
def test_bad_values_are_one_line_and_exit_2(cli: Cli, args: list[str], message: str) -> None:
    assert message in cli.error(2, "canary", "start", "chat-model", *args)


def test_refusals_are_one_line_and_exit_1(cli: Cli) -> None:
    assert "no canary with id or model 'ghost'" in cli.error(1, "canary", "promote", "ghost")
    cli.ok("canary", "start", "chat-model", "--candidate", "chat-model-v2")
    assert "active canary already" in cli.error(1, "canary", "start", "chat-model", "--system-prompt", "x")
    assert "running, not paused" in cli.error(1, "canary", "resume", "chat-model")
    cli.ok("canary", "rollback", "chat-model")
    assert "rolled back: only a running or paused canary" in cli.error(1, "canary", "pause", "chat-model")
    message = cli.error(2, "canary", "start", "unknown-model", "--candidate", "chat-model")
    assert "model: 'unknown-model' is not a model group of the config" in message
    again = cli.json("canary", "start", "chat-model", "--candidate", "chat-model-v2")  # a new id
    assert again["id"] == "chat-model-2" and again["status"] == "running"


def test_no_config_is_exit_2() -> None:
    result = CliRunner().invoke(app, ["canary", "status"], env={"LLMGATE_CONFIG": ""})
    assert result.exit_code == 2 and "no config file" in result.stderr


def test_empty_store(cli: Cli) -> None:
    assert cli.ok("canary", "status").stdout.strip() == "no canaries"
    assert cli.ok("canary", "history").stdout.strip() == "no canary events"
    assert cli.json("canary", "status") == []
