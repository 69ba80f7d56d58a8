"""The admin API for keys, teams and the audit log, over real HTTP against a running gateway."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from llmgate.store.models import table
from support.configs import MASTER_KEY
from support.gateway import RunningGateway
from support.keys import add_key, change_key

AUTH = {"Authorization": f"Bearer {MASTER_KEY}"}
CONFIG: dict[str, Any] = {
    "model_list": [
        {"model_name": name, "litellm_params": {"model": "mock/echo"}} for name in ("mock-echo", "a", "b")
    ],
    "general_settings": {"master_key": MASTER_KEY},
    "llmgate": {"recorder": {"process": False}},
}


@pytest.fixture
def gw(gateway_factory: Callable[..., RunningGateway]) -> RunningGateway:
    return gateway_factory(CONFIG)


def patch(gateway: RunningGateway, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.patch(gateway.url + path, json=body, headers=AUTH, timeout=30)


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def error(response: httpx.Response, status: int, param: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["message"] and "Traceback" not in response.text
    if param is not None:
        assert body["error"]["param"] == param
    return dict(body["error"])


def table_rows(gateway: RunningGateway, name: str) -> list[dict[str, Any]]:
    with gateway.state.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(table(name)))]


def test_key_lifecycle_over_http(gw: RunningGateway) -> None:
    team = ok(
        gw.post("/admin/teams", json={"alias": "search", "budget": "100", "rpm": 50}, headers=AUTH), 201
    )
    assert team["id"] == "search" and team["budget_usd"] == "100" and team["budget_period"] == "monthly"

    body = {
        "alias": "svc",
        "team": "search",
        "user": "bob",
        "models": ["mock-echo"],
        "budget": "10.25",
        "budget_period": "daily",
        "rpm": 5,
        "tpm": 1000,
        "expires": "2027-01-01",
        "tags": {"env": "prod"},
    }
    created = ok(gw.post("/admin/keys", json=body, headers=AUTH), 201)
    key, key_id = created["key"], created["id"]
    assert key.startswith("sk-lg-") and key_id.startswith("key_") and created["key_prefix"] == key[:10]
    assert (created["team_id"], created["user_id"], created["budget_usd"], created["budget_period"]) == (
        "search",
        "bob",
        "10.25",
        "daily",
    )
    assert created["expires_at"].startswith("2027-01-01T00:00:00") and created["status"] == "active"

    (stored,) = table_rows(gw, "api_keys")
    assert stored["key_hash"] == hashlib.sha256(key.encode()).hexdigest()
    assert all(key not in str(value) for value in stored.values())

    listed = gw.get("/admin/keys", headers=AUTH)
    one = gw.get(f"/admin/keys/{key_id}", headers=AUTH)
    by_alias = gw.get("/admin/keys/svc", headers=AUTH)
    for response in (listed, one, by_alias):
        assert key not in response.text and stored["key_hash"] not in response.text
    assert ok(listed)["object"] == "list" and [k["id"] for k in ok(listed)["data"]] == [key_id]
    assert ok(one) == ok(by_alias) and "key" not in ok(one)
    assert [k["id"] for k in ok(gw.get("/admin/keys?team=other", headers=AUTH))["data"]] == []

    updated = ok(patch(gw, f"/admin/keys/{key_id}", {"budget_usd": 20, "rpm": None, "alias": "svc2"}))
    assert (updated["budget_usd"], updated["rpm"], updated["alias"], updated["tpm"]) == (
        "20",
        None,
        "svc2",
        1000,
    )

    rotated = ok(gw.post(f"/admin/keys/{key_id}/rotate", headers=AUTH))
    new_key = rotated["key"]
    assert new_key != key and rotated["id"] == key_id and rotated["alias"] == "svc2"
    (stored,) = table_rows(gw, "api_keys")
    assert stored["key_hash"] == hashlib.sha256(new_key.encode()).hexdigest()

    revoked = ok(gw.post("/admin/keys/svc2/revoke", headers=AUTH))
    assert revoked["status"] == "revoked" and table_rows(gw, "api_keys")[0]["revoked_at"] is not None
    error(gw.post(f"/admin/keys/{key_id}/rotate", headers=AUTH), 400)

    team = ok(patch(gw, "/admin/teams/search", {"tpm": 900, "models": ["mock-echo"]}))
    assert team["tpm"] == 900 and team["models"] == ["mock-echo"]
    assert [t["id"] for t in ok(gw.get("/admin/teams", headers=AUTH))["data"]] == ["search"]

    audit = gw.get("/admin/audit?since=1h", headers=AUTH)
    entries = ok(audit)["data"]
    assert [(e["action"], e["target"]) for e in entries] == [
        ("team.create", "search"),
        ("key.create", key_id),
        ("key.update", key_id),
        ("key.rotate", key_id),
        ("key.revoke", key_id),
        ("team.update", "search"),
    ]
    assert {e["actor"] for e in entries} == {"api:master"}
    assert entries[2]["changes"] == {
        "budget_usd": ["10.25", "20"],
        "rpm": [5, None],
        "alias": ["svc", "svc2"],
    }
    for secret in (key, new_key, stored["key_hash"], "sk-lg-"):
        assert secret not in audit.text and secret not in str(table_rows(gw, "audit_log"))
    assert ok(gw.get("/admin/audit?since=2999-01-01", headers=AUTH))["data"] == []


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"alias": "a", "rpm": "lots"}, "rpm"),
        ({"alias": "a", "rpm": 0}, "rpm"),
        ({"alias": "a", "budget": -1}, "budget_usd"),
        ({"alias": "a", "budget": "NaN"}, "budget_usd"),
        ({"alias": "a", "budget_usd": "ten"}, "budget_usd"),
        ({"alias": "a", "budget_period": "yearly"}, "budget_period"),
        ({"alias": "a", "models": []}, "models"),
        ({"alias": "a", "tags": {"k": 1}}, "tags.k"),
        ({"alias": "a", "expires": "soon"}, "expires"),
        ({"alias": "a", "colour": "red"}, "colour"),
        ({"rpm": 5}, "alias"),
        ({"alias": "a", "cache": "sometimes"}, "cache"),
        ({"alias": "a", "cache": False}, "cache"),
    ],
)
def test_bad_bodies_are_openai_shaped_400s(gw: RunningGateway, body: dict[str, Any], param: str) -> None:
    error(gw.post("/admin/keys", json=body, headers=AUTH), 400, param)


def test_refusals(gw: RunningGateway) -> None:
    assert error(gw.post("/admin/keys", json={"alias": "a", "team_id": "ghost"}, headers=AUTH), 400)[
        "code"
    ] == ("team_not_found")
    ok(gw.post("/admin/keys", json={"alias": "a"}, headers=AUTH), 201)
    assert (
        error(gw.post("/admin/keys", json={"alias": "a"}, headers=AUTH), 400, "alias")["code"]
        == "alias_taken"
    )
    error(gw.post("/admin/keys", json={"alias": "sk-lg-looks-like-a-key"}, headers=AUTH), 400, "alias")
    error(
        gw.post("/admin/keys", content=b"{not json", headers={**AUTH, "content-type": "application/json"}),
        400,
    )
    error(gw.get("/admin/keys/missing", headers=AUTH), 404)
    error(patch(gw, "/admin/keys/missing", {"rpm": 1}), 404)
    error(gw.post("/admin/keys/missing/revoke", headers=AUTH), 404)
    error(patch(gw, "/admin/teams/missing", {"rpm": 1}), 404)
    ok(gw.post("/admin/teams", json={"alias": "t"}, headers=AUTH), 201)
    error(gw.post("/admin/teams", json={"alias": "t"}, headers=AUTH), 400, "alias")
    error(gw.get("/admin/audit?since=yesterday", headers=AUTH), 400, "since")
    assert [e["action"] for e in ok(gw.get("/admin/audit", headers=AUTH))["data"]] == [
        "key.create",
        "team.create",
    ]


def test_plain_keys_do_not_get_in(gw: RunningGateway) -> None:
    created = ok(gw.post("/admin/keys", json={"alias": "user-key"}, headers=AUTH), 201)
    calls = [
        ("GET", "/admin/keys", None),
        ("POST", "/admin/keys", {"alias": "sneaky"}),
        ("GET", f"/admin/keys/{created['id']}", None),
        ("PATCH", f"/admin/keys/{created['id']}", {"rpm": 1}),
        ("POST", f"/admin/keys/{created['id']}/revoke", None),
        ("POST", f"/admin/keys/{created['id']}/rotate", None),
        ("POST", "/admin/teams", {"alias": "t"}),
        ("GET", "/admin/teams", None),
        ("PATCH", "/admin/teams/t", {"rpm": 1}),
        ("GET", "/admin/audit", None),
    ]
    for headers in ({}, {"Authorization": "Bearer sk-wrong"}, {"Authorization": f"Bearer {created['key']}"}):
        for method, path, body in calls:
            response = httpx.request(method, gw.url + path, json=body, headers=headers, timeout=30)
            assert response.status_code in (401, 403), (method, path, response.text)
            error(response, response.status_code)
    assert [e["action"] for e in ok(gw.get("/admin/audit", headers=AUTH))["data"]] == ["key.create"]
    (stored,) = table_rows(gw, "api_keys")
    assert stored["revoked_at"] is None and stored["rpm"] is None


def test_admin_keys_get_in(gw: RunningGateway) -> None:
    """An admin key uses the admin API as the master key does; its own model calls keep its limits."""
    admin = ok(gw.post("/admin/keys", json={"alias": "ops", "admin": True, "rpm": 1}, headers=AUTH), 201)
    plain = ok(gw.post("/admin/keys", json={"alias": "app"}, headers=AUTH), 201)
    assert admin["admin"] is True and plain["admin"] is False
    as_admin = {"Authorization": f"Bearer {admin['key']}"}
    as_plain = {"Authorization": f"Bearer {plain['key']}"}

    listed = ok(gw.get("/admin/keys", headers=as_admin))["data"]
    assert {(k["alias"], k["admin"]) for k in listed} == {("ops", True), ("app", False)}
    made = ok(gw.post("/admin/keys", json={"alias": "made-by-ops"}, headers=as_admin), 201)
    assert ok(gw.get("/admin/spend/report?since=1h", headers=as_admin)) is not None
    assert error(gw.get("/admin/keys", headers=as_plain), 403)["message"] == (
        "The admin API needs the master key or an admin key."
    )
    # only the master key grants the admin role (issue 14; tests/security/test_admin_privileges.py)
    refused = error(
        httpx.patch(gw.url + f"/admin/keys/{plain['id']}", json={"admin": True}, headers=as_admin), 403
    )
    assert refused["code"] == "master_key_only"
    promoted = ok(patch(gw, f"/admin/keys/{plain['id']}", {"admin": True}))
    assert promoted["admin"] is True
    ok(gw.get("/admin/keys", headers=as_plain))
    demoted = ok(patch(gw, f"/admin/keys/{plain['id']}", {"admin": False}))
    assert demoted["admin"] is False
    error(gw.get("/admin/keys", headers=as_plain), 403)

    chat = {"model": "mock-echo", "messages": [{"role": "user", "content": "hi"}]}
    ok(gw.post("/v1/chat/completions", json=chat, headers=as_admin))
    assert gw.post("/v1/chat/completions", json=chat, headers=as_admin).status_code == 429  # its rpm

    ok(gw.post(f"/admin/keys/{admin['id']}/revoke", headers=AUTH))
    assert error(gw.get("/admin/keys", headers=as_admin), 401)["code"] == "key_revoked"

    entries = ok(gw.get("/admin/audit", headers=AUTH))["data"]
    assert [(e["action"], e["actor"], e["changes"].get("admin")) for e in entries] == [
        ("key.create", "api:master", [None, True]),
        ("key.create", "api:master", None),
        ("key.create", f"api:{admin['id']}", None),
        ("key.update", "api:master", [False, True]),
        ("key.update", "api:master", [True, False]),
        ("key.revoke", "api:master", None),
    ]
    assert made["admin"] is False


def test_openapi_documents_the_admin_api(gw: RunningGateway) -> None:
    schema = ok(gw.get("/openapi.json"))
    paths = schema["paths"]
    assert set(paths["/admin/keys"]) == {"get", "post"}
    assert set(paths["/admin/keys/{key_id}"]) == {"get", "patch"}
    assert "post" in paths["/admin/keys/{key_id}/revoke"] and "post" in paths["/admin/keys/{key_id}/rotate"]
    assert set(paths["/admin/teams"]) == {"get", "post"} and "patch" in paths["/admin/teams/{team_id}"]
    assert "get" in paths["/admin/audit"]
    models = schema["components"]["schemas"]
    assert {"KeyCreate", "KeyUpdate", "KeyInfo", "NewKey", "TeamCreate", "TeamInfo", "AuditEntry"} <= set(
        models
    )
    assert "key" in models["NewKey"]["properties"] and "key" not in models["KeyInfo"]["properties"]
    assert "key_hash" not in str(models)


def test_bodies_also_take_the_cli_spelling(gw: RunningGateway) -> None:
    body = {
        "alias": "csv",
        "models": "a, b",
        "tags": "env=prod,cc=42",
        "budget": 7,
        "expires": "2030-06-01T12:00",
    }
    created = ok(gw.post("/admin/keys", json=body, headers=AUTH), 201)
    assert created["models"] == ["a", "b"] and created["tags"] == {"env": "prod", "cc": "42"}
    assert created["budget_usd"] == "7" and created["budget_period"] == "monthly"
    assert created["expires_at"].startswith("2030-06-01T12:00:00")  # no offset given: UTC
    assert created["expires_at"].endswith(("Z", "+00:00"))


def test_allow_lists_name_models_of_the_config(gw: RunningGateway) -> None:
    """As ``llmgate keys create --models``: a model the config does not serve is a 400 naming it."""
    refused = error(gw.post("/admin/keys", json={"alias": "k", "models": ["a", "gpt-5"]}, headers=AUTH), 400)
    assert refused["param"] == "models" and "'gpt-5' not in the config's model_list" in refused["message"]
    assert "'a'" not in refused["message"]
    error(gw.post("/admin/teams", json={"alias": "t", "models": "b,nope"}, headers=AUTH), 400, "models")
    assert table_rows(gw, "api_keys") == [] and table_rows(gw, "teams") == []
    ok(gw.post("/admin/keys", json={"alias": "k", "models": ["a"]}, headers=AUTH), 201)
    ok(gw.post("/admin/teams", json={"alias": "t", "models": ["a", "b"]}, headers=AUTH), 201)
    error(patch(gw, "/admin/keys/k", {"models": ["A"]}), 400, "models")  # names match exactly
    error(patch(gw, "/admin/teams/t", {"models": ["a", "c"]}), 400, "models")
    assert ok(patch(gw, "/admin/keys/k", {"models": ["b"]}))["models"] == ["b"]


def test_no_keys_are_made_for_a_gateway_without_a_master_key(
    gateway_factory: Callable[..., RunningGateway],
) -> None:
    """An admin key left in the store from a config that had a master key may still read, but a
    gateway without one is open, so it makes no keys or teams (400 ``master_key_required``)."""
    open_gw = gateway_factory({**CONFIG, "general_settings": {}})
    admin, _ = add_key(open_gw.state.engine, "ops", admin=True)
    headers = {"Authorization": f"Bearer {admin}"}
    for path, body in (("/admin/keys", {"alias": "new"}), ("/admin/teams", {"alias": "t"})):
        refused = error(open_gw.post(path, json=body, headers=headers), 400)
        assert refused["code"] == "master_key_required" and "master_key" in refused["message"]
    assert [k["alias"] for k in ok(open_gw.get("/admin/keys", headers=headers))["data"]] == ["ops"]


def test_cache_settings_of_keys_and_teams(gw: RunningGateway) -> None:
    """``cache``: off, semantic or on (null: on), stored as ``metadata.cache``; the rest of the
    metadata is kept; any other value is a 400 naming ``cache``, and nothing is written."""
    team = ok(gw.post("/admin/teams", json={"alias": "t", "cache": "off"}, headers=AUTH), 201)
    assert team["cache"] == "off"
    key = ok(gw.post("/admin/keys", json={"alias": "k", "team": "t", "cache": "semantic"}, headers=AUTH), 201)
    assert key["cache"] == "semantic"
    change_key(gw.state.engine, key["id"], metadata_json='{"owner": "data", "cache": {"semantic": true}}')
    assert ok(patch(gw, "/admin/keys/k", {"cache": "off"}))["cache"] == "off"
    (stored,) = table_rows(gw, "api_keys")
    assert stored["metadata_json"] and json.loads(stored["metadata_json"]) == {
        "owner": "data",
        "cache": False,
    }
    refused = error(patch(gw, "/admin/keys/k", {"cache": "maybe"}), 400, "cache")
    assert refused["message"] == "cache: must be one of on, off, semantic, got 'maybe'"
    assert ok(gw.get("/admin/keys/k", headers=AUTH))["cache"] == "off"  # unchanged
    assert ok(patch(gw, "/admin/keys/k", {"cache": None}))["cache"] == "on"
    assert json.loads(table_rows(gw, "api_keys")[0]["metadata_json"]) == {"owner": "data"}
    assert ok(patch(gw, "/admin/teams/t", {"cache": "semantic"}))["cache"] == "semantic"
    assert ok(gw.get("/admin/teams", headers=AUTH))["data"][0]["cache"] == "semantic"
    error(patch(gw, "/admin/teams/t", {"cache": "none"}), 400, "cache")
    error(gw.post("/admin/teams", json={"alias": "u", "cache": "OFFF"}, headers=AUTH), 400, "cache")
    assert [t["id"] for t in ok(gw.get("/admin/teams", headers=AUTH))["data"]] == ["t"]
