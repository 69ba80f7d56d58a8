"""The dashboard's Canaries data (``/ui/api/canaries``) over real HTTP, on canaries written through
the store's own functions (``support.canary_dashboard``): the list (active first, newest first)
with each canary's last evaluation, one canary's decision log and its split over time built from
its events, and who may read them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmgate.store.canaries import canary_events
from llmgate.store.migrate import upgrade
from support.canary_dashboard import GATES, HOLD, ORDER, PAUSE_REASON, ROLLBACK, seed_canaries
from support.dashboard import login_cookie
from support.gateway import RunningGateway
from support.keys import add_key

MASTER = "sk-canaries-master-0123"
AUTH = {"Authorization": f"Bearer {MASTER}"}


def config(tmp_path: Path) -> dict[str, Any]:
    return {
        "model_list": [{"model_name": "echo-small", "litellm_params": {"model": "mock/echo"}}],
        "general_settings": {"master_key": MASTER},
        "llmgate": {"database_url": f"sqlite:///{tmp_path / 'store.db'}", "recorder": {"process": False}},
    }


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    base = tmp_path_factory.mktemp("canaries")
    gateway = RunningGateway(config(base), base).start()
    try:
        engine = gateway.state.engine
        upgrade(engine)
        seed_canaries(engine)
        admin_key, _ = add_key(engine, "ops", admin=True)
        plain_key, _ = add_key(engine, "app")
        gateway.admin_key, gateway.plain_key = admin_key, plain_key
        yield gateway
    finally:
        gateway.stop()


def get(gw: RunningGateway, path: str) -> Any:
    response = httpx.get(gw.url + path, headers=AUTH, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def test_every_canary_active_first_then_newest_with_its_last_evaluation(gw: RunningGateway) -> None:
    canaries = get(gw, "/ui/api/canaries")["canaries"]
    assert [c["id"] for c in canaries] == ORDER
    assert [c["active"] for c in canaries] == [True, True, False, False]
    by_id = {c["id"]: c for c in canaries}

    chat = by_id["chat-v2"]
    assert (chat["model"], chat["status"]) == ("chat-large", "rolled_back")
    assert (chat["percent"], chat["step_index"]) == (0, 1)
    assert chat["steps"] == [10, 50, 100] and chat["sticky"] == "user" and chat["gate_names"] == list(GATES)
    assert chat["candidate"] == {"model": "echo-small"} and chat["candidate_label"] == "echo-small"
    assert chat["ended_at"] is not None and chat["started_at"] < chat["updated_at"]
    assert chat["evaluation"]["decision"] == ROLLBACK["decision"]
    assert chat["evaluation"]["decision"]["failing"] == ["errors"]
    assert chat["evaluation"]["gates"] == ROLLBACK["gates"]  # every bound, as the controller wrote it
    assert (chat["evaluation"]["candidate_requests"], chat["evaluation"]["percent"]) == (450, 50.0)

    echo = by_id["echo-prompt"]
    assert (echo["status"], echo["percent"], echo["steps"]) == ("running", 5, [5, 25, 100])
    label = "echo-small with system prompt “Answer in one short sentence.” and temperature=0.2"
    assert echo["sticky"] == "session" and echo["candidate_label"] == label
    assert echo["evaluation"]["decision"]["action"] == "hold"
    assert [g["verdict"] for g in echo["evaluation"]["gates"]] == ["undecided", "undecided", "no_data"]

    paused = by_id["paused-one"]
    assert (paused["status"], paused["evaluation"]) == ("paused", None)
    assert paused["candidate_label"] == "deployment dep-7"
    assert by_id["old-done"]["status"] == "promoted" and by_id["old-done"]["percent"] == 100


def test_one_canary_with_its_decision_log_and_split_over_time(gw: RunningGateway) -> None:
    chat = get(gw, "/ui/api/canaries/chat-v2")
    log = chat["events"]
    assert [e["action"] for e in log] == ["rollback", "resume", "pause", "step", "evaluate", "start"]
    assert [e["percent"] for e in log] == [0, 50, 50, 50, 10, 10]
    assert (chat["events_total"], chat["events_truncated"]) == (6, False)
    rollback, _, pause, step, evaluate, start = log
    assert rollback["actor"] == "controller" and rollback["failing"] == ["errors"]
    assert rollback["reason"] == ROLLBACK["decision"]["reason"]
    assert rollback["evaluation"]["gates"] == ROLLBACK["gates"]
    assert pause["reason"] == PAUSE_REASON and pause["actor"] == "cli:alice" and pause["evaluation"] is None
    assert step["evaluation"]["decision"]["action"] == "promote"
    assert evaluate["evaluation"]["gates"] == HOLD["gates"] and evaluate["failing"] == []
    # a start lists the gates' names, not results: no evaluation; its definition stays in details
    assert start["evaluation"] is None and start["details"]["gates"] == list(GATES)
    ids = [e["id"] for e in log]
    assert ids == sorted(ids, reverse=True)

    # the split: a point per change of the candidate's share (the evaluation at 10% moved nothing),
    # each at its event's time, then where it ended
    events = {e["id"]: e for e in canary_events(gw.state.engine, "chat-v2")}
    split = chat["split"]
    assert [(p["action"], p["percent"]) for p in split] == [
        ("start", 10),
        ("step", 50),
        ("pause", 50),
        ("resume", 50),
        ("rollback", 0),
        ("end", 0),
    ]
    expected_times = [e["at"] for e in events.values() if e["action"] != "evaluate"]
    assert [_time(p["at"]) for p in split[:-1]] == expected_times
    assert _time(split[-1]["at"]) == _time(chat["ended_at"])


def test_a_running_canary_split_reaches_now_and_a_model_finds_its_canary(gw: RunningGateway) -> None:
    echo = get(gw, "/ui/api/canaries/echo-small")  # the model: its active canary
    assert echo["id"] == "echo-prompt"
    assert [(p["action"], p["percent"]) for p in echo["split"]] == [("start", 5), ("now", 5)]
    assert _time(echo["split"][-1]["at"]) == _time(echo["now"]) >= _time(echo["split"][0]["at"])
    assert get(gw, "/ui/api/canaries/chat-large")["id"] == "chat-v2"  # no active one: its latest

    newest = get(gw, "/ui/api/canaries/chat-v2?limit=2")
    assert [e["action"] for e in newest["events"]] == ["rollback", "resume"]
    assert (newest["events_total"], newest["events_truncated"]) == (6, True)
    assert len(newest["split"]) == 6  # the split is built from every event, whatever the limit

    missing = httpx.get(gw.url + "/ui/api/canaries/nope", headers=AUTH, timeout=30)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_no_canary_is_an_empty_list(gateway_factory: Callable[..., RunningGateway], tmp_path: Path) -> None:
    empty = gateway_factory(config(tmp_path))
    upgrade(empty.state.engine)
    assert get(empty, "/ui/api/canaries") == {"canaries": []}


@pytest.mark.parametrize("path", ["", "/chat-v2"])
def test_only_admins_get_the_data(gw: Any, path: str) -> None:
    url = gw.url + "/ui/api/canaries" + path
    for headers in ({}, {"Authorization": f"Bearer {gw.plain_key}"}, {"Authorization": "Bearer sk-wrong"}):
        response = httpx.get(url, headers=headers, timeout=30)
        assert response.status_code == 401, response.text
        assert "chat-v2" not in response.text and "errors" not in response.text
    assert httpx.get(url, headers={"Authorization": f"Bearer {gw.admin_key}"}, timeout=60).status_code == 200


def _time(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def test_the_page_needs_a_login(gw: Any) -> None:
    page = httpx.get(gw.url + "/ui/canaries", timeout=30)
    assert page.status_code == 303 and page.headers["location"] == "/ui/login?next=%2Fui%2Fcanaries"
    cookies = login_cookie(gw.url, MASTER)
    page = httpx.get(gw.url + "/ui/canaries", cookies=cookies, timeout=30)
    assert page.status_code == 200 and "/ui/static/canaries.js" in page.text
    assert httpx.get(gw.url + "/ui/api/canaries", cookies=cookies, timeout=30).status_code == 200
