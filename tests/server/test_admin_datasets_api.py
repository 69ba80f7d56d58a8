"""``/admin/datasets`` on a real gateway over loopback, with traffic sent through the ``openai`` SDK:
make a dataset from the logs with a ``where`` filter (a taken name refused unless replaced, a bad
filter 400 naming ``where``), list and read it (prompts scrubbed), add a request or a session
(idempotent; the dataset made when missing), remove an item, export the suite, delete; 401 without
a key, 403 for a key that is not an admin, 404 for what does not exist, every error in OpenAI's
shape, every change in the audit log under who made it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from llmgate.evals.suite import parse_suite
from llmgate.store.models import table
from support.configs import MASTER_KEY, upstream_config
from support.gateway import RunningGateway
from support.keys import add_key
from support.upstream import FakeUpstream

MODEL = "gpt-4o-mini"
EMAIL = "carol@example.org"


@dataclass
class World:
    gateway: RunningGateway
    admin: tuple[str, str]  # (key, key id)
    plain: str
    ids: list[str]  # [the thumbs-down call, session call 1, session call 2]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp: Path = tmp_path_factory.mktemp("admin-datasets")
    upstream = FakeUpstream().start()
    gateway = RunningGateway(upstream_config(upstream, database_url=f"sqlite:///{tmp / 'store.db'}"), tmp)
    engine = gateway.state.engine
    admin = add_key(engine, "ops", admin=True)
    plain, _ = add_key(engine, "app")
    gateway.start()
    try:
        client = gateway.client(MASTER_KEY)
        ids = []
        for content, session in (
            (f"Mail {EMAIL} my invoice", None),
            ("step one", "s-1"),
            ("step two", "s-1"),
        ):
            headers = {"x-llmgate-session-id": session} if session else {}
            raw = client.chat.completions.with_raw_response.create(
                model=MODEL, messages=[{"role": "user", "content": content}], extra_headers=headers
            )
            ids.append(raw.headers["x-llmgate-request-id"])
        gateway.flush()
        thumbs = {"request_id": ids[0], "name": "thumbs", "value": "down"}
        assert admin_call(gateway, "POST", "/admin/feedback", json=thumbs).status_code == 200
        yield World(gateway, admin, plain, ids)
    finally:
        gateway.stop()
        upstream.stop()


def admin_call(
    gateway: RunningGateway, method: str, path: str, key: str = MASTER_KEY, **kw: Any
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.request(method, gateway.url + path, headers=headers, timeout=30, **kw)


def error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and {"message", "type", "param", "code"} <= set(body["error"])
    return dict(body["error"])


def test_who_may_call(world: World) -> None:
    assert (
        error(admin_call(world.gateway, "GET", "/admin/datasets", key=""), 401)["type"]
        == "authentication_error"
    )
    refused = error(
        admin_call(world.gateway, "POST", "/admin/datasets/x/items", key=world.plain, json={}), 403
    )
    assert refused["type"] == "permission_error"
    assert admin_call(world.gateway, "GET", "/admin/datasets", key=world.admin[0]).status_code == 200


def test_create_from_the_logs_read_and_export(world: World) -> None:
    g = world.gateway
    made = admin_call(g, "POST", "/admin/datasets", json={"name": "bad", "where": "feedback.thumbs = down"})
    assert made.status_code == 201, made.text
    assert made.json()["dataset"]["items"] == 1 and made.json()["selection"]["items"] == 1
    assert made.json()["selection"]["considered"] >= 3

    taken = error(admin_call(g, "POST", "/admin/datasets", json={"name": "bad"}), 400)
    assert (taken["code"], taken["param"]) == ("conflict", "name")
    again = admin_call(
        g, "POST", "/admin/datasets", json={"name": "bad", "where": "session_id = s-1", "replace": True}
    )
    assert again.status_code == 201 and again.json()["dataset"]["items"] == 2
    assert (
        error(admin_call(g, "POST", "/admin/datasets", json={"name": "x", "where": "thumbs =="}), 400)[
            "param"
        ]
        == "where"
    )
    assert (
        error(admin_call(g, "POST", "/admin/datasets", json={"name": "x", "since": "soon"}), 400)["param"]
        == "since"
    )
    assert error(admin_call(g, "POST", "/admin/datasets", json={"name": "a/b"}), 400)["param"] == "name"
    assert (
        error(admin_call(g, "POST", "/admin/datasets", json={"name": "x", "nope": 1}), 400)["type"]
        == "invalid_request_error"
    )

    admin_call(
        g, "POST", "/admin/datasets", json={"name": "bad", "where": "feedback.thumbs = down", "replace": True}
    )
    listed = admin_call(g, "GET", "/admin/datasets").json()["datasets"]
    assert [(d["name"], d["items"]) for d in listed if d["name"] == "bad"] == [("bad", 1)]
    one = admin_call(g, "GET", "/admin/datasets/bad").json()
    assert [i["request_id"] for i in one["items"]] == [world.ids[0]] and one["query"][
        "where"
    ] == "feedback.thumbs = down"
    text = str(one["items"][0]["messages"])
    assert EMAIL not in text and "[EMAIL]" in text and one["items"][0]["rating"] == "bad"
    assert error(admin_call(g, "GET", "/admin/datasets/nope"), 404)["code"] == "not_found"

    suite = admin_call(g, "GET", "/admin/datasets/bad/export", params={"model": ["mock-echo"]})
    assert suite.status_code == 200 and suite.headers["content-type"].startswith("application/yaml")
    parsed = parse_suite(suite.content)
    assert parsed.models == ["mock-echo"] and [c.id for c in parsed.cases] == [world.ids[0]]
    assert error(admin_call(g, "GET", "/admin/datasets/nope/export"), 404)["code"] == "not_found"


def test_add_remove_delete_audited(world: World) -> None:
    g, (admin_key, admin_id) = world.gateway, world.admin
    path = "/admin/datasets/picked/items"
    made = admin_call(g, "POST", path, key=admin_key, json={"session_id": "s-1"})
    assert made.status_code == 201 and (made.json()["added"], made.json()["created"]) == (2, True)
    again = admin_call(g, "POST", path, json={"request_id": [world.ids[1], world.ids[0]]})
    assert again.status_code == 200 and (again.json()["added"], again.json()["present"]) == (1, 1)
    assert again.json()["dataset"]["items"] == 3
    assert error(admin_call(g, "POST", path, json={"request_id": "f" * 32}), 404)["param"] == "request_id"
    assert error(admin_call(g, "POST", path, json={"session_id": "nope"}), 404)["code"] == "not_found"
    assert error(admin_call(g, "POST", path, json={}), 400)["type"] == "invalid_request_error"

    items = admin_call(g, "GET", "/admin/datasets/picked").json()["items"]
    first = items[0]["id"]
    assert admin_call(g, "DELETE", f"/admin/datasets/picked/items/{first}").json()["deleted"] is True
    assert error(admin_call(g, "DELETE", f"/admin/datasets/picked/items/{first}"), 404)["param"] == "item_id"
    assert admin_call(g, "GET", "/admin/datasets/picked").json()["items"] == items[1:]
    gone = admin_call(g, "DELETE", "/admin/datasets/picked", key=admin_key)
    assert gone.status_code == 200 and gone.json()["items"] == 2
    assert error(admin_call(g, "DELETE", "/admin/datasets/picked"), 404)["code"] == "not_found"

    log = table("audit_log")
    with g.state.engine.connect() as conn:
        query = sa.select(log.c.actor, log.c.action).where(log.c.target == "picked").order_by(log.c.id)
        entries = [tuple(r) for r in conn.execute(query)]
    assert entries == [
        (f"api:{admin_id}", "dataset.create"),
        ("api:master", "dataset.add"),
        ("api:master", "dataset.remove"),
        (f"api:{admin_id}", "dataset.delete"),
    ]
