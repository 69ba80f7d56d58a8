"""The canary actions the CLI and the admin API share (canary/actions.py), on a real SQLite store:
every change is written with its event and its audit entry, bad values are one-line errors naming
the value, changes that do not fit a canary's status are conflicts, and the export is the
model_list change to commit, copied as the config file has it (no secret)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import Engine

from llmgate.canary.actions import CanaryActions, Catalog, NotFound, canary_json
from llmgate.config import load_config
from llmgate.errors import InvalidRequest
from llmgate.store.canaries import canary_events, get_canary
from llmgate.store.db import create_engine_for
from llmgate.store.keys import list_audit
from llmgate.store.migrate import upgrade
from support.migrated import copy_migrated

SECRET = "sk-upstream-very-secret-0123456789"

CONFIG: dict[str, Any] = {
    "model_list": [
        {
            "model_name": "chat-model",
            "litellm_params": {"model": "openai/gpt-4o-mini", "api_key": "os.environ/CANARY_TEST_KEY"},
            "model_info": {"id": "chat-a"},
        },
        {
            "model_name": "chat-model-v2",
            "litellm_params": {"model": "openai/gpt-4.1-mini", "api_key": "os.environ/CANARY_TEST_KEY"},
            "model_info": {"id": "v2-a"},
        },
        {"model_name": "chat-east", "litellm_params": {"model": "mock/echo"}, "model_info": {"id": "east-1"}},
    ],
    "llmgate": {"database_url": "sqlite:///store.db"},
}


@pytest.fixture
def config_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CANARY_TEST_KEY", SECRET)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    (tmp_path / "evals").mkdir()
    (tmp_path / "evals" / "qa.yaml").write_text("name: qa\n")
    return path


@pytest.fixture
def engine(config_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{config_path.parent / 'store.db'}"
    copy_migrated(url)  # migrated once per session (support/migrated.py)
    engine = create_engine_for(url)
    upgrade(engine)  # a no-op at head
    yield engine
    engine.dispose()


@pytest.fixture
def actions(engine: Engine, config_path: Path) -> CanaryActions:
    catalog = Catalog.of(load_config(config_path), str(config_path))
    return CanaryActions(engine, catalog, actor="cli:tester", source="cli")


def audit_actions(engine: Engine, target: str) -> list[str]:
    return [entry.action for entry in list_audit(engine, target=target)]


def test_start_writes_the_canary_its_event_and_audit_entry(actions: CanaryActions, engine: Engine) -> None:
    row = actions.start(model="chat-model", candidate="chat-model-v2", steps="10,50,100", sticky="session")
    assert (row.id, row.status, row.percent, row.step_index) == ("chat-model", "running", 10.0, 0)
    assert row.steps == (10.0, 50.0, 100.0) and row.sticky == "session" and row.source == "cli"
    assert row.candidate["model"] == "chat-model-v2"
    assert [e["action"] for e in canary_events(engine, row.id)] == ["start"]
    assert audit_actions(engine, row.id) == ["canary.start"]
    assert canary_json(row)["steps"] == [10.0, 50.0, 100.0]


def test_a_bare_candidate_name_is_a_group_else_a_deployment(actions: CanaryActions) -> None:
    row = actions.start(model="chat-model", candidate="east-1", canary_id="to-east")
    assert row.candidate["deployment"] == "east-1" and row.candidate.get("model") is None


def test_a_variant_candidate_is_the_same_model_with_a_prompt_and_params(actions: CanaryActions) -> None:
    row = actions.start(model="chat-model", system_prompt="Answer briefly.", params={"temperature": 0.2})
    assert row.candidate["system_prompt"] == "Answer briefly."
    assert row.candidate["params"] == {"temperature": 0.2}


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"model": "nope", "candidate": "chat-model-v2"}, "model: 'nope' is not a model group of the config"),
        ({"model": "chat-model", "candidate": "nope"}, "candidate.model: 'nope' is not a model_name"),
        (
            {"model": "chat-model", "candidate": "chat-model"},
            "candidate.model: 'chat-model' is the stable model itself",
        ),
        (
            {"model": "chat-model", "candidate": "chat-a"},
            "candidate.deployment: 'chat-a' serves 'chat-model'",
        ),
        ({"model": "chat-model", "candidate": "chat-model-v2", "steps": "10,5,100"}, "steps must increase"),
        ({"model": "chat-model", "candidate": "chat-model-v2", "steps": "10,50"}, "steps must end at 100"),
        (
            {"model": "chat-model", "candidate": "chat-model-v2", "gates": "errors,speed"},
            "unknown gate 'speed'",
        ),
        ({"model": "chat-model", "candidate": "chat-model-v2", "sticky": "ip"}, "sticky: 'ip' is not one of"),
        (
            {"model": "chat-model", "candidate": "chat-model-v2", "gates": "eval:missing.yaml"},
            "no suite file",
        ),
        ({"model": "chat-model"}, "candidate: give model, deployment, system_prompt or params"),
    ],
)
def test_bad_values_are_one_line_errors_naming_them(
    actions: CanaryActions, engine: Engine, given: dict[str, Any], expected: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        actions.start(**given)
    assert expected in caught.value.message and "\n" not in caught.value.message
    assert actions.status() == []  # nothing was written


def test_eval_gate_suites_are_stored_with_absolute_paths(
    engine: Engine, config_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(config_path.parent)  # the CLI: relative to the working directory
    catalog = Catalog.of(load_config(config_path), str(config_path), base_dir=Path.cwd())
    row = CanaryActions(engine, catalog, actor="cli:t", source="cli").start(
        model="chat-model", candidate="chat-model-v2", gates="errors,eval:evals/qa.yaml"
    )
    assert row.gates == ("errors", f"eval:{(config_path.parent / 'evals' / 'qa.yaml').resolve()}")


def test_one_active_canary_per_model(actions: CanaryActions) -> None:
    actions.start(model="chat-model", candidate="chat-model-v2")
    with pytest.raises(InvalidRequest) as caught:
        actions.start(model="chat-model", candidate="chat-east", canary_id="other")
    assert caught.value.code == "conflict"


def test_pause_resume_promote_and_rollback_each_leave_an_event_and_an_audit_entry(
    actions: CanaryActions, engine: Engine
) -> None:
    actions.start(model="chat-model", candidate="chat-model-v2", steps=[10, 50, 100])
    assert actions.pause("chat-model").status == "paused"
    with pytest.raises(InvalidRequest, match="paused already"):
        actions.pause("chat-model")
    assert actions.resume("chat-model").status == "running"
    stepped = actions.promote("chat-model")
    assert (stepped.step_index, stepped.percent, stepped.status) == (1, 50.0, "running")
    rolled = actions.rollback("chat-model", reason="users complain")
    assert (rolled.status, rolled.percent) == ("rolled_back", 0.0) and rolled.ended_at is not None
    events = canary_events(engine, "chat-model")
    assert [e["action"] for e in events] == ["start", "pause", "resume", "step", "rollback"]
    assert events[-1]["details"]["reason"] == "users complain" and events[-1]["actor"] == "cli:tester"
    assert audit_actions(engine, "chat-model") == [
        "canary.start",
        "canary.pause",
        "canary.resume",
        "canary.step",
        "canary.rollback",
    ]
    with pytest.raises(InvalidRequest) as caught:  # ended: nothing more to do to it
        actions.promote("chat-model")
    assert caught.value.code == "conflict" and "rolled back" in caught.value.message


def test_promote_steps_then_promotes_at_the_last_step_or_at_once_with_full(
    actions: CanaryActions, engine: Engine
) -> None:
    actions.start(model="chat-model", candidate="chat-model-v2", steps="10,50,100")
    assert actions.promote("chat-model").percent == 50.0
    last = actions.promote("chat-model")
    assert (last.status, last.percent, last.step_index) == ("promoted", 100.0, 2)
    actions.start(model="chat-east", system_prompt="Be brief.", canary_id="east-prompt")
    full = actions.promote("east-prompt", full=True)
    assert (full.status, full.percent) == ("promoted", 100.0)
    assert [e["action"] for e in canary_events(engine, "east-prompt")] == ["start", "promote"]


def test_history_of_a_model_and_of_everything(actions: CanaryActions) -> None:
    actions.start(model="chat-model", candidate="chat-model-v2", canary_id="first")
    actions.rollback("first")
    actions.start(model="chat-model", candidate="chat-east", canary_id="second")
    actions.start(model="chat-east", system_prompt="Be brief.")
    history = actions.history("chat-model")
    assert [(e["canary_id"], e["action"]) for e in history] == [
        ("first", "start"),
        ("first", "rollback"),
        ("second", "start"),
    ]
    assert len(actions.history()) == 4
    with pytest.raises(NotFound):
        actions.history("nothing")
    assert [r.id for r in actions.status()][:2] == ["chat-east", "second"]  # active first, newest first
    assert get_canary(actions.engine, "chat-model") is not None


def test_export_of_another_group_copies_its_entries_as_written(actions: CanaryActions) -> None:
    actions.start(model="chat-model", candidate="chat-model-v2", steps="50,100")
    actions.promote("chat-model")
    text = actions.export("chat-model")
    assert SECRET not in text
    change = yaml.safe_load(text)
    assert change == {
        "model_list": [
            {
                "model_name": "chat-model",
                "litellm_params": {"model": "openai/gpt-4.1-mini", "api_key": "os.environ/CANARY_TEST_KEY"},
            }
        ]
    }
    assert "replace the entries whose model_name is 'chat-model'" in text


def test_export_of_a_deployment_and_of_a_variant_says_what_cannot_be_expressed(
    actions: CanaryActions,
) -> None:
    actions.start(model="chat-model", candidate="east-1", canary_id="east")
    deployment = yaml.safe_load(actions.export("east"))
    assert deployment["model_list"] == [
        {"model_name": "chat-model", "litellm_params": {"model": "mock/echo"}}
    ]
    assert "not promoted" in actions.export("east")
    actions.rollback("east")

    actions.start(
        model="chat-model",
        system_prompt="Answer in one line.\nCite the context.",
        params={"temperature": 0.2, "custom_flag": True},
        canary_id="prompt",
    )
    text = actions.export("prompt")
    params = yaml.safe_load(text)["model_list"][0]["litellm_params"]
    assert params == {
        "model": "openai/gpt-4o-mini",
        "api_key": "os.environ/CANARY_TEST_KEY",
        "temperature": 0.2,
        "custom_flag": True,
    }
    assert "forced temperature onto every request" in text
    assert "Cannot be expressed as a request parameter: custom_flag" in text
    assert "Cannot be expressed in model_list: the candidate's system prompt" in text
    assert "#   Answer in one line.\n#   Cite the context." in text


def test_export_without_the_config_file_never_prints_a_secret(engine: Engine, config_path: Path) -> None:
    catalog = Catalog.of(load_config(config_path))  # the admin API of a gateway built from a dict
    actions = CanaryActions(engine, catalog, actor="api:master", source="api")
    actions.start(model="chat-model", candidate="chat-model-v2")
    text = actions.export("chat-model")
    assert SECRET not in text and "os.environ/SET_ME" in text


def test_unknown_canaries_are_not_found(actions: CanaryActions) -> None:
    for action in (actions.pause, actions.resume, actions.promote, actions.rollback, actions.export):
        with pytest.raises(NotFound, match="no canary with id or model 'ghost'"):
            action("ghost")
