"""The canary admin API (/admin/canaries) on a real gateway: a canary started over HTTP is followed by
the gateway at once (its replies carry the arm), shown, promoted, paused, resumed, rolled back (later
traffic goes to stable only), its history and export; errors in OpenAI's shape; admins only."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import yaml

from support.configs import MASTER_KEY
from support.gateway import RunningGateway

CONFIG: dict[str, Any] = {
    "model_list": [
        {"model_name": "chat-model", "litellm_params": {"model": "mock/echo", "mock_response": "stable"}},
        {
            "model_name": "chat-model-v2",
            "litellm_params": {"model": "mock/echo", "mock_response": "candidate"},
        },
    ],
    "general_settings": {"master_key": MASTER_KEY},
}
ADMIN = {"Authorization": f"Bearer {MASTER_KEY}"}


@pytest.fixture
def gateway(gateway_factory: Callable[..., RunningGateway]) -> RunningGateway:
    return gateway_factory(CONFIG)


def api(gateway: RunningGateway, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, gateway.url + path, headers=ADMIN, timeout=10, **kwargs)


def arms(gateway: RunningGateway, n: int) -> list[str | None]:
    """The ``x-llmgate-canary`` header of ``n`` chat calls, each from another user."""
    client = gateway.client(MASTER_KEY)
    seen = []
    for i in range(n):
        raw = client.chat.completions.with_raw_response.create(
            model="chat-model", messages=[{"role": "user", "content": "hi"}], user=f"user-{i}"
        )
        seen.append(raw.headers.get("x-llmgate-canary"))
    return seen


def eventually(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_a_canary_through_the_admin_api(gateway: RunningGateway) -> None:
    started = api(
        gateway,
        "POST",
        "/admin/canaries",
        json={"model": "chat-model", "candidate": "chat-model-v2", "steps": [50, 100]},
    )
    assert started.status_code == 201, started.text
    assert (started.json()["percent"], started.json()["source"]) == (50.0, "api")
    eventually(lambda: set(arms(gateway, 20)) == {"stable", "candidate"}, "the split on the gateway")

    shown = api(gateway, "GET", "/admin/canaries/chat-model").json()
    assert shown["id"] == "chat-model" and shown["status"] == "running"
    listed = api(gateway, "GET", "/admin/canaries", params={"active": "true"}).json()
    assert listed["object"] == "list" and [c["id"] for c in listed["data"]] == ["chat-model"]

    assert api(gateway, "POST", "/admin/canaries/chat-model/pause").json()["status"] == "paused"
    assert api(gateway, "POST", "/admin/canaries/chat-model/resume").json()["status"] == "running"
    rolled = api(gateway, "POST", "/admin/canaries/chat-model/rollback", json={"reason": "bad answers"})
    assert (rolled.json()["status"], rolled.json()["percent"]) == ("rolled_back", 0.0)
    eventually(lambda: set(arms(gateway, 10)) == {None}, "all traffic back on stable")

    history = api(gateway, "GET", "/admin/canaries/chat-model/history").json()["data"]
    history = [e for e in history if e["action"] != "evaluate"]  # the controller's, every few seconds
    assert [e["action"] for e in history] == ["start", "pause", "resume", "rollback"]
    assert {e["actor"] for e in history} == {"api:master"}
    assert history[-1]["details"]["reason"] == "bad answers"


def test_promotion_sends_everything_to_the_candidate_and_exports_the_change(gateway: RunningGateway) -> None:
    body = {"model": "chat-model", "candidate": "chat-model-v2", "steps": "10,50,100", "id": "v2"}
    assert api(gateway, "POST", "/admin/canaries", json=body).status_code == 201
    assert api(gateway, "POST", "/admin/canaries/v2/promote").json()["percent"] == 50.0
    promoted = api(gateway, "POST", "/admin/canaries/v2/promote", json={"full": True}).json()
    assert (promoted["status"], promoted["percent"]) == ("promoted", 100.0)
    client = gateway.client(MASTER_KEY)

    def answered_by_candidate() -> bool:
        raw = client.chat.completions.with_raw_response.create(
            model="chat-model", messages=[{"role": "user", "content": "x"}]
        )
        return str(raw.headers["x-llmgate-model"]).startswith("chat-model-v2")

    eventually(answered_by_candidate, "the promoted candidate")
    exported = api(gateway, "GET", "/admin/canaries/v2/export").json()
    assert exported["object"] == "canary.export"
    change = yaml.safe_load(exported["yaml"])
    assert change["model_list"][0]["model_name"] == "chat-model"
    assert change["model_list"][0]["litellm_params"] == {"model": "mock/echo", "mock_response": "candidate"}


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "param", "words"),
    [
        ("POST", "/admin/canaries", {"model": "nope", "candidate": "chat-model-v2"}, 400, "model", "not a model group"),
        ("POST", "/admin/canaries", {"model": "chat-model", "candidate": "chat-model-v2", "steps": [5, 1]}, 400, "steps", "increase"),
        ("POST", "/admin/canaries", {"model": "chat-model", "colour": "red"}, 400, "colour", "Extra inputs"),
        ("POST", "/admin/canaries/ghost/promote", None, 404, "canary", "no canary with id or model 'ghost'"),
        ("GET", "/admin/canaries/ghost/history", None, 404, "canary", "no canary"),
    ],
)  # fmt: skip
def test_errors_in_openai_shape(
    gateway: RunningGateway,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    status: int,
    param: str,
    words: str,
) -> None:
    reply = api(gateway, method, path, json=body)
    assert reply.status_code == status, reply.text
    error = reply.json()["error"]
    assert (
        words in error["message"]
        and error["param"] == param
        and set(error) == {"message", "type", "param", "code"}
    )


def test_a_second_canary_on_a_model_is_a_conflict(gateway: RunningGateway) -> None:
    api(gateway, "POST", "/admin/canaries", json={"model": "chat-model", "candidate": "chat-model-v2"})
    again = api(
        gateway, "POST", "/admin/canaries", json={"model": "chat-model", "system_prompt": "Be brief."}
    )
    assert again.status_code == 400 and again.json()["error"]["code"] == "conflict"
    paused = api(gateway, "POST", "/admin/canaries/chat-model/resume")
    assert paused.status_code == 400 and paused.json()["error"]["code"] == "conflict"


def test_admins_only(gateway: RunningGateway) -> None:
    anonymous = httpx.get(gateway.url + "/admin/canaries", timeout=10)
    assert anonymous.status_code == 401 and anonymous.json()["error"]["type"] == "authentication_error"
    wrong = httpx.get(
        gateway.url + "/admin/canaries", headers={"Authorization": "Bearer sk-wrong"}, timeout=10
    )
    assert wrong.status_code == 401


def test_the_gateway_rolls_back_a_failing_config_canary_and_alerts(
    gateway_factory: Callable[..., RunningGateway],
) -> None:
    from support.webhook import Receiver

    hook = Receiver()
    try:
        failing = {"model": "mock/echo", "mock_failure_rate": 0.6, "mock_seed": 7}
        config = {
            "model_list": [
                CONFIG["model_list"][0],
                {"model_name": "chat-model-v2", "litellm_params": failing},
            ],
            "general_settings": {"master_key": MASTER_KEY},
            "llmgate": {
                "canaries": [{"model": "chat-model", "candidate": "chat-model-v2", "steps": [50, 100]}],
                "canary_controller": {"interval_s": 0.2},
                "alerts": {"log": False, "webhooks": [{"url": hook.url}]},
            },
        }
        gateway = gateway_factory(config)
        eventually(
            lambda: api(gateway, "GET", "/admin/canaries/chat-model").status_code == 200, "the config canary"
        )
        seen: list[str | None] = []

        def rolled_back() -> bool:
            seen.extend(arms(gateway, 25))
            return api(gateway, "GET", "/admin/canaries/chat-model").json()["status"] == "rolled_back"

        eventually(rolled_back, "the rollback")
        assert "candidate" in seen
        eventually(lambda: hook.kinds() == ["canary.rolled_back"], "the alert")
        (alert,) = hook.bodies
        failing = {gate["name"] for gate in alert["details"]["failing"]}
        assert failing and failing <= {"errors", "latency"}  # the failovers: errors, and their time
        assert alert["details"]["candidate_requests"] > 0
        assert set(arms(gateway, 10)) == {None}  # every later call: stable, no canary
    finally:
        hook.close()
