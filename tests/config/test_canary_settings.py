"""``llmgate.canaries`` and ``llmgate.canary_controller``: what is accepted, the defaults, and the
one-line errors naming the key for everything else (including names the model list lacks)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from llmgate.config import load_config, parse_config
from llmgate.config.canary_settings import (
    DEFAULT_GATES,
    DEFAULT_STEPS,
    GATE_NAMES,
    STICKY,
    CanarySettings,
    CandidateSpec,
    candidate_from_name,
    parse_gates,
    parse_steps,
)
from llmgate.errors import ConfigError


def model_list() -> list[dict[str, Any]]:
    return [
        {"model_name": "chat", "litellm_params": {"model": "mock/echo"}, "model_info": {"id": "chat-1"}},
        {"model_name": "chat-v2", "litellm_params": {"model": "mock/echo"}, "model_info": {"id": "v2-a"}},
        {"model_name": "chat-v2", "litellm_params": {"model": "mock/echo"}, "model_info": {"id": "v2-b"}},
    ]


def config(*canaries: dict[str, Any], **llmgate: Any) -> dict[str, Any]:
    return {"model_list": model_list(), "llmgate": {"canaries": list(canaries), **llmgate}}


def error_of(data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    return caught.value.message


def test_a_full_canary_is_read_with_its_values(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        yaml.safe_dump(
            config(
                {
                    "model": "chat",
                    "id": "chat-rollout",
                    "candidate": {"model": "chat-v2", "params": {"temperature": 0.2}},
                    "steps": [10, 50, 100],
                    "sticky": "session",
                    "gates": ["errors", "latency", "eval:evals/factual_qa.yaml"],
                    "tolerances": {"errors": 0.05},
                    "alpha": 0.01,
                    "min_step_requests": 500,
                },
                canary_controller={"interval_s": 0.25},
            )
        )
    )
    loaded = load_config(path)
    (canary,) = loaded.llmgate.canaries
    assert canary.model == "chat" and canary.id == "chat-rollout"
    assert canary.candidate == CandidateSpec(model="chat-v2", params={"temperature": 0.2})
    assert canary.steps == (10.0, 50.0, 100.0)
    assert canary.sticky == "session"
    # an eval gate's suite is relative to the config file, as eval schedules' suites are
    suite = (tmp_path / "evals" / "factual_qa.yaml").resolve()
    assert canary.gates == ("errors", "latency", f"eval:{suite}")
    assert canary.tolerances == {"errors": 0.05}
    assert (canary.alpha, canary.min_step_requests) == (0.01, 500)
    assert loaded.llmgate.canary_controller.interval_s == 0.25


def test_defaults() -> None:
    (canary,) = parse_config(config({"model": "chat", "candidate": "chat-v2"})).llmgate.canaries
    assert canary.id == "chat"  # the model's name
    assert canary.steps == DEFAULT_STEPS == (1, 5, 25, 50, 100)
    assert canary.gates == DEFAULT_GATES == GATE_NAMES
    assert GATE_NAMES[0] == "errors" and GATE_NAMES[-1] == "response_drift" and len(GATE_NAMES) == 11
    assert canary.sticky == "user" and STICKY == ("user", "session", "key")
    assert (canary.alpha, canary.min_step_requests, canary.tolerances) == (0.05, 100, {})
    assert parse_config(config()).llmgate.canary_controller.interval_s == 1.0
    assert parse_config(config()).llmgate.canaries == []


def test_a_bare_candidate_is_a_group_else_a_deployment() -> None:
    data = config(
        {"model": "chat", "candidate": "chat-v2"},
        {"model": "chat-v2", "candidate": "chat-1"},
    )
    group, deployment = parse_config(data).llmgate.canaries
    assert group.candidate == CandidateSpec(model="chat-v2")
    assert deployment.candidate == CandidateSpec(deployment="chat-1")
    groups, ids = {"chat", "chat-v2"}, {"chat-1", "v2-a"}
    assert candidate_from_name("chat-v2", groups, ids) == CandidateSpec(model="chat-v2")
    assert candidate_from_name("v2-a", groups, ids) == CandidateSpec(deployment="v2-a")
    assert candidate_from_name("nope", groups, ids) == CandidateSpec(model="nope")


def test_a_candidate_may_be_the_same_model_with_another_prompt_or_parameters() -> None:
    (canary,) = parse_config(
        config({"model": "chat", "candidate": {"system_prompt": "Be brief.", "params": {"top_p": 0.5}}})
    ).llmgate.canaries
    assert canary.candidate.model is None and canary.candidate.deployment is None
    assert canary.candidate.is_variant
    assert not CandidateSpec(model="chat-v2").is_variant


@pytest.mark.parametrize(
    ("canary", "message"),
    [
        ({"model": "nope", "candidate": "chat-v2"}, "llmgate.canaries[0].model: 'nope' is not a model_name"),
        (
            {"model": "chat", "candidate": {"model": "gone"}},
            "llmgate.canaries[0].candidate.model: 'gone' is not a model_name",
        ),
        (
            {"model": "chat", "candidate": "gone"},
            "llmgate.canaries[0].candidate.model: 'gone' is not a model_name",
        ),
        (
            {"model": "chat", "candidate": "chat"},
            "llmgate.canaries[0].candidate.model: 'chat' is the stable model itself",
        ),
        (
            {"model": "chat", "candidate": {"deployment": "gone"}},
            "llmgate.canaries[0].candidate.deployment: 'gone' is no model_list entry's model_info.id",
        ),
        (
            {"model": "chat", "candidate": {"deployment": "chat-1"}},
            "llmgate.canaries[0].candidate.deployment: 'chat-1' serves 'chat' itself",
        ),
        (
            {"model": "chat", "candidate": {"model": "chat-v2", "deployment": "v2-a"}},
            "llmgate.canaries[0].candidate: give either model or deployment, not both",
        ),
        ({"model": "chat", "candidate": {}}, "llmgate.canaries[0].candidate: give model, deployment"),
        (
            {"model": "chat", "candidate": {"params": {"stream": True}}},
            "llmgate.canaries[0].candidate.params: params may not set stream",
        ),
        (
            {"model": "chat", "candidate": "chat-v2", "steps": [5, 1, 100]},
            "llmgate.canaries[0].steps: steps must increase strictly: 1 comes after 5",
        ),
        (
            {"model": "chat", "candidate": "chat-v2", "steps": [10, 50]},
            "llmgate.canaries[0].steps: steps must end at 100",
        ),
        (
            {"model": "chat", "candidate": "chat-v2", "steps": [0, 100]},
            "llmgate.canaries[0].steps: step 0 is not a percentage in (0, 100]",
        ),
        (
            {"model": "chat", "candidate": "chat-v2", "steps": []},
            "llmgate.canaries[0].steps: give at least one step",
        ),
        (
            {"model": "chat", "candidate": "chat-v2", "gates": ["errors", "speed"]},
            "llmgate.canaries[0].gates: unknown gate 'speed'",
        ),
        (
            {"model": "chat", "candidate": "chat-v2", "gates": ["errors", "errors"]},
            "llmgate.canaries[0].gates: gate 'errors' is named twice",
        ),
        (
            {"model": "chat", "candidate": "chat-v2", "gates": ["eval:"]},
            "llmgate.canaries[0].gates: gate 'eval:': name the suite",
        ),
        (
            {"model": "chat", "candidate": "chat-v2", "tolerances": {"speed": 0.1}},
            "llmgate.canaries[0].tolerances: unknown gate 'speed'",
        ),
        (
            {"model": "chat", "candidate": "chat-v2", "tolerances": {"errors": -1}},
            "llmgate.canaries[0].tolerances: tolerance of 'errors'",
        ),
        (
            {"model": "chat", "candidate": "chat-v2", "sticky": "ip"},
            "llmgate.canaries[0].sticky: 'ip' is not",
        ),
        ({"model": "chat", "candidate": "chat-v2", "alpha": 1}, "llmgate.canaries[0].alpha"),
        ({"model": "chat", "candidate": "chat-v2", "min_step_requests": 0}, "llmgate.canaries[0].min_step"),
        ({"model": "chat", "candidate": "chat-v2", "id": "has space"}, "llmgate.canaries[0].id: 'has space'"),
        ({"model": "chat", "candidate": "chat-v2", "bogus": 1}, "llmgate.canaries[0].bogus: unknown key"),
    ],
)
def test_a_bad_canary_is_an_error_naming_its_key(canary: dict[str, Any], message: str) -> None:
    assert message in error_of(config(canary))


def test_one_canary_per_model_and_unique_ids() -> None:
    twice = config(
        {"model": "chat", "candidate": "chat-v2"}, {"model": "chat", "id": "b", "candidate": "chat-v2"}
    )
    assert "llmgate.canaries[1].model: 'chat' already has a canary (llmgate.canaries[0])" in error_of(twice)
    same_id = config(
        {"model": "chat", "candidate": "chat-v2"}, {"model": "chat-v2", "id": "chat", "candidate": "chat"}
    )
    assert "llmgate.canaries[1].id: 'chat' is also llmgate.canaries[0]'s id" in error_of(same_id)


def test_the_controller_interval_must_be_positive() -> None:
    assert "llmgate.canary_controller.interval_s" in error_of(config(canary_controller={"interval_s": 0}))


def test_group_names_starting_with_canary_are_reserved() -> None:
    data = config()
    data["model_list"].append({"model_name": "canary:x", "litellm_params": {"model": "mock/echo"}})
    assert "model_list[3].model_name: 'canary:x'" in error_of(data)


def test_parse_steps_and_gates_read_the_cli_forms() -> None:
    assert parse_steps("10,50,100") == (10.0, 50.0, 100.0)
    assert parse_steps(" 2.5 , 25%, 100 ") == (2.5, 25.0, 100.0)
    assert parse_gates("errors, latency,eval:evals/x.yaml") == ("errors", "latency", "eval:evals/x.yaml")
    for bad, message in [
        ("10,x,100", "step 'x' is not a number"),
        ("50,10,100", "steps must increase strictly"),
        ("10,50", "steps must end at 100"),
        ("", "give at least one step"),
        ("10,150", "step 150 is not a percentage"),
    ]:
        with pytest.raises(ValueError, match=re.escape(message)) as caught:
            parse_steps(bad)
        assert "\n" not in str(caught.value)  # one line, for the CLI
    with pytest.raises(ValueError, match="unknown gate 'speed'"):
        parse_gates("errors,speed")


def test_canary_settings_built_in_python_default_their_id() -> None:
    canary = CanarySettings.model_validate({"model": "chat", "candidate": "chat-v2", "steps": "10,100"})
    assert canary.id == "chat" and canary.steps == (10.0, 100.0)
    assert canary.candidate == CandidateSpec(model="chat-v2")
