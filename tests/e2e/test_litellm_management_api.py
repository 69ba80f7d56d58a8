"""LiteLLM's management API, driven the way teams' scripts drive LiteLLM's proxy: plain httpx with
the master key, against a real gateway on loopback with a SQLite store and the mock provider.

The scripts create a team, a user with a budget, keys for both, call a model with those keys,
read spend back through ``/key/info``, ``/user/info``, ``/team/info``, ``/spend/logs`` and
``/global/spend/report``, change and delete keys, members, users and teams, and read
``/model/info`` and ``/model_group/info``. Each expectation is one counted check, so a failure
report says how many of the scripts' checks pass (the issue counted 4 of 61 before).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.configs import MASTER_KEY
from support.gateway import RunningGateway

SECRET = "sk-upstream-secret-never-shown-0123456789"
CONFIG: dict[str, Any] = {
    "model_list": [
        {
            "model_name": "mock-gpt",
            "litellm_params": {
                "model": "mock/echo",
                "api_key": SECRET,
                "input_cost_per_token": 0.001,
                "output_cost_per_token": 0.002,
                "rpm": 1000,
            },
            "model_info": {"id": "mock-gpt-1", "mode": "chat"},
        },
        {"model_name": "mock-cheap", "litellm_params": {"model": "mock/echo"}},
        {"model_name": "mock-slow", "litellm_params": {"model": "mock/echo", "mock_latency_ms": 600}},
    ],
    "general_settings": {"master_key": MASTER_KEY},
}
TODAY = datetime.now(UTC).date()


class Checks:
    """Counted expectations: every one is tried, the failures are reported together."""

    def __init__(self) -> None:
        self.total = 0
        self.failed: list[str] = []

    def __call__(self, ok: bool, what: str) -> bool:
        self.total += 1
        if not ok:
            self.failed.append(what)
        return ok

    def eq(self, got: Any, want: Any, what: str) -> bool:
        return self(got == want, f"{what}: got {got!r}, want {want!r}")

    def status(self, response: httpx.Response, want: int, what: str) -> Any:
        self(response.status_code == want, f"{what}: {response.status_code} {response.text[:300]}")
        try:
            return response.json()
        except ValueError:
            return None


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    base: Path = tmp_path_factory.mktemp("litellm-api")
    config = {
        **CONFIG,
        "llmgate": {"database_url": f"sqlite:///{base / 'store.db'}", "recorder": {"process": False}},
    }
    gateway = RunningGateway(config, base).start()
    yield gateway
    gateway.stop()


def chat(gw: RunningGateway, key: str, model: str = "mock-gpt", **extra: Any) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "hello from a script"}], **extra}
    return httpx.post(
        f"{gw.url}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=30
    )


def test_scripts_written_for_litellm_proxy(gw: RunningGateway) -> None:
    check = Checks()
    admin = httpx.Client(base_url=gw.url, headers={"Authorization": f"Bearer {MASTER_KEY}"}, timeout=30)

    # --- health, as LiteLLM's probes ask -------------------------------------------------------
    check.eq(admin.get("/health/liveliness").json(), "I'm alive!", "liveliness")
    ready = check.status(admin.get("/health/readiness"), 200, "readiness")
    check.eq((ready or {}).get("db"), "connected", "readiness db")

    # --- a team with a member, a user with a budget ----------------------------------------------
    team = check.status(
        admin.post(
            "/team/new",
            json={
                "team_alias": "search",
                "max_budget": 50,
                "budget_duration": "30d",
                "models": ["mock-gpt"],
                "tpm_limit": 100000,
                "rpm_limit": 100,
                "metadata": {"cost_center": "42"},
            },
        ),
        200,
        "team/new",
    )
    team_id = team["team_id"]
    check(len(team_id) == 36, "team_id is a UUID when none is given")
    check.eq(team["team_alias"], "search", "team_alias")
    check.eq((team["max_budget"], team["budget_duration"]), (50.0, "30d"), "team budget")
    check.eq(team["metadata"], {"cost_center": "42"}, "team metadata")
    user = check.status(
        admin.post(
            "/user/new",
            json={
                "user_id": "alice",
                "user_email": "alice@example.com",
                "user_role": "internal_user",
                "max_budget": 0.001,
                "budget_duration": "1mo",
                "teams": [team_id],
                "key_alias": "alice-laptop",
            },
        ),
        200,
        "user/new",
    )
    check.eq(user["user_id"], "alice", "user_id")
    check(isinstance(user.get("key"), str) and user["key"].startswith("sk-"), "user/new made a key")
    check.eq(user["max_budget"], 0.001, "user max_budget")
    check.eq(user["budget_duration"], "30d", "user budget_duration (monthly)")
    check.eq(user["teams"], [team_id], "user teams")
    alice_key = user["key"]

    # --- keys with LiteLLM's fields ----------------------------------------------------------
    generated = check.status(
        admin.post(
            "/key/generate",
            json={
                "key_alias": "search-svc",
                "team_id": team_id,
                "models": ["mock-gpt"],
                "rpm_limit": 50,
                "max_budget": 10,
                "budget_duration": "7d",
                "duration": "30d",
                "metadata": {"app": "search", "owner": "ops"},
                "max_parallel_requests": 4,
            },
        ),
        200,
        "key/generate",
    )
    team_key, token = generated["key"], generated["token"]
    check(team_key.startswith("sk-"), "generate: key is the secret")
    check(token.startswith("key_") and token != team_key, "generate: token is an id, not the secret")
    check(
        generated["key_name"].startswith(team_key[:8]) and team_key not in generated["key_name"], "key_name"
    )
    expires = datetime.fromisoformat(generated["expires"])
    check(timedelta(days=29) < expires - datetime.now(UTC) <= timedelta(days=30), "expires in 30 days")
    check.eq((generated["max_budget"], generated["budget_duration"]), (10.0, "7d"), "key budget")
    check.eq((generated["rpm_limit"], generated["max_parallel_requests"]), (50, 4), "key limits")
    check.eq(generated["team_id"], team_id, "key team_id")
    check.eq(generated["metadata"], {"app": "search", "owner": "ops"}, "key metadata")
    aliased = check.status(
        admin.post(
            "/key/generate",
            json={"user_id": "alice", "aliases": {"gpt-4o": "mock-cheap"}},
            headers={"Authorization": "", "x-litellm-api-key": f"Bearer {MASTER_KEY}"},
        ),
        200,
        "key/generate with x-litellm-api-key",
    )
    check.eq(aliased["user_id"], "alice", "key user_id")
    check.eq(aliased["aliases"], {"gpt-4o": "mock-cheap"}, "key aliases")

    # --- refusals in LiteLLM's (OpenAI's) error shape --------------------------------------------
    bad = check.status(
        admin.post("/key/generate", json={"budget_duration": "1h", "max_budget": 1}), 400, "1h"
    )
    check("budget_duration" in str(bad) and "cannot be mapped" in str(bad), "1h names what cannot be mapped")
    bad = check.status(admin.post("/key/generate", json={"soft_budget": 5}), 400, "unimplemented field")
    check.eq((bad or {}).get("error", {}).get("param"), "soft_budget", "unimplemented field named")
    check.status(admin.post("/key/generate", json={"models": ["nope"]}), 400, "unknown model")
    check.status(httpx.post(f"{gw.url}/key/generate", json={}, timeout=30), 401, "no key")
    check.status(
        httpx.post(
            f"{gw.url}/key/generate", json={}, headers={"Authorization": f"Bearer {team_key}"}, timeout=30
        ),
        403,
        "a plain key is not an admin",
    )

    # --- calls with those keys -----------------------------------------------------------------
    check.status(chat(gw, team_key), 200, "team key calls its model")
    check.status(chat(gw, team_key, model="mock-cheap"), 403, "team key: model off its list")
    check.status(chat(gw, aliased["key"], model="gpt-4o"), 200, "alias gpt-4o -> mock-cheap")
    check.status(chat(gw, alice_key), 200, "alice's first call (under budget)")
    gw.flush()
    refused = check.status(chat(gw, alice_key), 429, "alice over her budget is refused")
    message = str((refused or {}).get("error", {}).get("message"))
    check("user" in message and "alice" in message, f"refusal names the user: {message}")

    # --- spend back through LiteLLM's reads ------------------------------------------------------
    info = check.status(admin.get("/key/info", params={"key": team_key}), 200, "key/info by secret")
    check.eq(info["key"], team_key, "key/info echoes the key")
    check(info["info"]["spend"] > 0, "key spend counted")
    check(team_key not in str(info["info"]), "key/info never shows the secret")
    by_token = check.status(admin.get("/key/info", params={"key": token}), 200, "key/info by token")
    check.eq(by_token["info"]["token"], token, "key/info by token")
    own = check.status(
        httpx.get(f"{gw.url}/key/info", headers={"Authorization": f"Bearer {team_key}"}, timeout=30),
        200,
        "a key reads its own info",
    )
    check.eq((own or {}).get("info", {}).get("key_alias"), "search-svc", "own key info")
    user_info = check.status(admin.get("/user/info", params={"user_id": "alice"}), 200, "user/info")
    check(user_info["user_info"]["spend"] > 0.001, "user spend past its budget")
    check.eq(sorted(k["key_alias"] for k in user_info["keys"])[0], "alice-laptop", "user's keys")
    check.eq(len(user_info["keys"]), 2, "both of alice's keys")
    check.eq([t["team_id"] for t in user_info["teams"]], [team_id], "user's teams")
    team_info = check.status(admin.get("/team/info", params={"team_id": team_id}), 200, "team/info")
    check(team_info["team_info"]["spend"] > 0, "team spend counted")
    check.eq([m["user_id"] for m in team_info["team_info"]["members_with_roles"]], ["alice"], "team members")
    check.eq([k["token"] for k in team_info["keys"]], [token], "team keys")

    logs = check.status(admin.get("/spend/logs", params={"api_key": team_key}), 200, "spend/logs by key")
    check.eq(len(logs), 2, "two requests by the team key (one refused)")
    row = logs[-1] if logs else {}
    for field in (
        "request_id",
        "api_key",
        "model",
        "spend",
        "startTime",
        "endTime",
        "user",
        "team_id",
        "metadata",
        "total_tokens",
        "call_type",
    ):
        check(field in row, f"spend log has {field}")
    check.eq(row.get("api_key"), token, "spend log api_key is the token")
    check.eq(row.get("team_id"), team_id, "spend log team_id")
    check(all(team_key not in str(entry) for entry in logs), "spend logs never show the secret")
    check(SECRET not in str(logs), "spend logs never show an upstream key")
    one = check.status(admin.get("/spend/logs", params={"request_id": row.get("request_id")}), 200, "by id")
    check.eq(len(one), 1, "spend/logs by request_id")
    mine = check.status(admin.get("/spend/logs", params={"user_id": "alice"}), 200, "spend/logs by user")
    check.eq({r["user"] for r in mine}, {"alice"}, "spend/logs by user_id")
    days = check.status(
        admin.get("/spend/logs", params={"start_date": str(TODAY), "end_date": str(TODAY)}),
        200,
        "spend/logs over dates",
    )
    check.eq([d["startTime"] for d in days], [str(TODAY)], "spend/logs summarised per day")
    check(days and days[0]["spend"] > 0 and "mock-gpt" in days[0]["models"], "daily summary per model")

    dates = {"start_date": str(TODAY - timedelta(days=1)), "end_date": str(TODAY)}
    report = check.status(
        admin.get("/global/spend/report", params={**dates, "group_by": "team"}), 200, "report"
    )
    teams = report[0]["teams"] if report else []
    search = [t for t in teams if t["team_name"] == "search"]
    check(bool(search) and search[0]["total_spend"] > 0, "report: the team's spend by name")
    check(bool(search) and search[0]["metadata"][0]["api_key"] == token, "report: per key and model")
    check("Unassigned Team" in {t["team_name"] for t in teams}, "report: keys without a team")
    customers = check.status(
        admin.get("/global/spend/report", params={**dates, "group_by": "customer"}),
        200,
        "report per customer",
    )
    check("alice" in {c["customer"] for c in customers[0]["customers"]} if customers else False, "customers")
    per_key = check.status(
        admin.get("/global/spend/report", params={**dates, "api_key": team_key}), 200, "report for one key"
    )
    check.eq([k["api_key"] for k in per_key], [token], "report for one key")
    details = {d["model"] for d in per_key[0]["model_details"]} if per_key else set()
    check.eq(details, {"mock-gpt", "mock-cheap"}, "report model details (the refused call included)")
    served = admin.get("/spend/logs", params={"api_key": aliased["token"]}).json()
    check.eq([r["model_group"] for r in served], ["mock-cheap"], "the alias served mock-cheap")
    check.status(admin.get("/global/spend/report", params={"group_by": "planet"}), 400, "bad group_by")

    # --- models, without secrets -----------------------------------------------------------------
    models = check.status(admin.get("/model/info"), 200, "model/info")
    names = [m["model_name"] for m in models["data"]]
    check.eq(names, ["mock-gpt", "mock-cheap", "mock-slow"], "model/info lists the deployments")
    check(SECRET not in str(models) and "api_key" not in models["data"][0]["litellm_params"], "no api_key")
    check.eq(models["data"][0]["model_info"]["id"], "mock-gpt-1", "model_info id")
    check.eq(models["data"][0]["model_info"]["input_cost_per_token"], 0.001, "model_info price")
    check.eq(admin.get("/v1/model/info").json(), models, "/v1/model/info is the same")
    groups = check.status(admin.get("/model_group/info"), 200, "model_group/info")
    check.eq(
        [g["model_group"] for g in groups["data"]], ["mock-gpt", "mock-cheap", "mock-slow"], "model groups"
    )
    check.eq(groups["data"][0]["providers"], ["mock"], "model group providers")
    restricted = httpx.get(
        f"{gw.url}/model/info", headers={"Authorization": f"Bearer {team_key}"}, timeout=30
    )
    check.eq([m["model_name"] for m in restricted.json()["data"]], ["mock-gpt"], "a key sees its models")

    # --- changes -------------------------------------------------------------------------------
    updated = check.status(
        admin.post(
            "/key/update",
            json={"key": team_key, "rpm_limit": 99, "max_budget": 20, "metadata": {"app": "search-v2"}},
        ),
        200,
        "key/update",
    )
    check.eq((updated["rpm_limit"], updated["max_budget"]), (99, 20.0), "key/update values")
    check.eq(updated["metadata"], {"app": "search-v2"}, "key/update metadata")
    listed = check.status(admin.get("/key/list", params={"team_id": team_id}), 200, "key/list")
    check.eq((listed["keys"], listed["total_count"]), ([token], 1), "key/list by team")
    full = admin.get("/key/list", params={"user_id": "alice", "return_full_object": "true"}).json()
    check.eq(full["total_count"], 2, "key/list by user, full objects")
    raised = check.status(
        admin.post("/user/update", json={"user_id": "alice", "max_budget": 100}), 200, "user/update"
    )
    check.eq(raised["data"]["max_budget"], 100.0, "user/update budget")
    check.status(chat(gw, alice_key), 200, "alice again under her raised budget")
    upd_team = check.status(
        admin.post("/team/update", json={"team_id": team_id, "max_budget": 75}), 200, "team/update"
    )
    check.eq(upd_team["data"]["max_budget"], 75.0, "team/update budget")

    added = check.status(
        admin.post(
            "/team/member_add", json={"team_id": team_id, "member": {"role": "admin", "user_id": "bob"}}
        ),
        200,
        "team/member_add",
    )
    check.eq(sorted(m["user_id"] for m in added["members_with_roles"]), ["alice", "bob"], "bob added")
    check.status(admin.get("/user/info", params={"user_id": "bob"}), 200, "member_add made user bob")
    role = check.status(
        admin.post("/team/member_update", json={"team_id": team_id, "user_id": "bob", "role": "user"}),
        200,
        "member_update",
    )
    check.eq(role["role"], "user", "member role changed")
    check.status(
        admin.post("/team/member_update", json={"team_id": team_id, "user_id": "bob", "role": "boss"}),
        400,
        "unknown member role",
    )
    left = check.status(
        admin.post("/team/member_delete", json={"team_id": team_id, "user_id": "bob"}),
        200,
        "team/member_delete",
    )
    check.eq([m["user_id"] for m in left["members_with_roles"]], ["alice"], "bob removed")

    # --- deletions -----------------------------------------------------------------------------
    deleted = check.status(admin.post("/key/delete", json={"keys": [aliased["key"]]}), 200, "key/delete")
    check.eq(deleted["deleted_keys"], [aliased["key"]], "deleted_keys")
    check.status(chat(gw, aliased["key"], model="gpt-4o"), 401, "a deleted key stops working")
    check.status(admin.get("/key/info", params={"key": aliased["key"]}), 404, "a deleted key is unknown")
    check.status(admin.post("/user/delete", json={"user_ids": ["alice"]}), 200, "user/delete")
    check.status(admin.get("/user/info", params={"user_id": "alice"}), 404, "a deleted user is unknown")
    check.status(chat(gw, alice_key), 401, "a deleted user's key stops working")
    check.status(admin.post("/team/delete", json={"team_ids": [team_id]}), 200, "team/delete")
    check.status(admin.get("/team/info", params={"team_id": team_id}), 404, "a deleted team is unknown")
    check.status(chat(gw, team_key), 401, "a deleted team's key stops working")
    kept = check.status(admin.get("/spend/logs", params={"api_key": token}), 200, "spend after deletion")
    check.eq(len(kept), 2, "spend history outlives the key")

    admin.close()
    assert not check.failed, f"{check.total - len(check.failed)} of {check.total} checks pass:\n" + "\n".join(
        check.failed
    )
    assert check.total >= 60


def test_max_parallel_requests_holds_a_key_to_its_requests_in_flight(gw: RunningGateway) -> None:
    headers = {"x-litellm-api-key": MASTER_KEY}
    body = {"key_alias": "two-at-once", "max_parallel_requests": 2}
    key = httpx.post(f"{gw.url}/key/generate", json=body, headers=headers, timeout=30).json()["key"]
    with ThreadPoolExecutor(6) as pool:  # each answer takes 600 ms: all six are in flight together
        answers = list(pool.map(lambda _: chat(gw, key, model="mock-slow"), range(6)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses.count(200) in (1, 2) and set(statuses) <= {200, 429}, statuses
    refused = next(a for a in answers if a.status_code == 429)
    assert "Max parallel request limit reached" in refused.json()["error"]["message"]
    assert chat(gw, key, model="mock-slow").status_code == 200  # the slots were given back
