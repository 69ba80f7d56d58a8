"""``POST /v1/feedback`` and the admin API's scores, on a real gateway over loopback with the ``openai``
SDK as the client: a key scores its own request (accepted, and a repeat updates the one row), not
another key's request or session (403 in OpenAI's shape); the master key and admin keys score any;
an unknown request is 404; bad bodies are 400 naming the field; ``GET /admin/requests/{id}/scores``
lists every score with its source, the monitor's included."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import sqlalchemy as sa

from llmgate.store.models import table
from support.configs import MASTER_KEY, upstream_config
from support.gateway import RunningGateway
from support.keys import add_key
from support.upstream import FakeUpstream

MODEL = "gpt-4o-mini"


@dataclass
class World:
    gateway: RunningGateway
    keys: dict[str, tuple[str, str]]  # alias -> (key, key id)
    requests: dict[str, str]  # alias -> a request id made with that key


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp: Path = tmp_path_factory.mktemp("feedback")
    upstream = FakeUpstream().start()
    gateway = RunningGateway(upstream_config(upstream, database_url=f"sqlite:///{tmp / 'store.db'}"), tmp)
    engine = gateway.state.engine
    keys = {alias: add_key(engine, alias) for alias in ("alice", "bob")}
    keys["ops"] = add_key(engine, "ops", admin=True)
    gateway.start()
    try:
        requests = {}
        for alias in ("alice", "bob"):
            raw = gateway.client(keys[alias][0]).chat.completions.with_raw_response.create(
                model=MODEL,
                messages=[{"role": "user", "content": f"hello from {alias}"}],
                extra_headers={"x-llmgate-session-id": f"session-{alias}"},
            )
            requests[alias] = raw.headers["x-llmgate-request-id"]
        gateway.flush()
        yield World(gateway, keys, requests)
    finally:
        gateway.stop()
        upstream.stop()


def feedback(world: World, key: str, body: dict[str, Any]) -> dict[str, Any]:
    """A feedback post through the openai SDK (its generic ``post``: the SDK has no feedback method)."""
    answer = world.gateway.client(key).post("/feedback", body=body, cast_to=httpx.Response)
    assert answer.status_code == 200
    return dict(answer.json())


def rows(world: World, target_id: str) -> list[dict[str, Any]]:
    scores = table("scores")
    with world.gateway.state.engine.connect() as conn:
        return [
            dict(r) for r in conn.execute(sa.select(scores).where(scores.c.target_id == target_id)).mappings()
        ]


def test_a_key_scores_its_own_request_and_a_repeat_updates_the_row(world: World) -> None:
    alice, alice_id = world.keys["alice"]
    request_id = world.requests["alice"]
    first = feedback(world, alice, {"request_id": request_id, "name": "thumbs", "value": True})
    assert (first["target_kind"], first["target_id"], first["name"]) == ("request", request_id, "thumbs")
    assert (first["kind"], first["value"], first["source"]) == ("bool", True, f"key:{alice_id}")
    again = feedback(world, alice, {"request_id": request_id, "name": "thumbs", "value": True})
    assert again == first  # equal: nothing changed
    changed = feedback(
        world, alice, {"request_id": request_id, "name": "thumbs", "value": False, "comment": "wrong answer"}
    )
    assert (changed["id"], changed["value"], changed["comment"]) == (first["id"], False, "wrong answer")
    stored = [r for r in rows(world, request_id) if r["name"] == "thumbs"]
    assert len(stored) == 1 and stored[0]["value_num"] == 0.0 and stored[0]["comment"] == "wrong answer"
    # a number and a label, and a score of its own session
    assert feedback(world, alice, {"request_id": request_id, "name": "stars", "value": 4})["kind"] == "number"
    label = feedback(world, alice, {"session_id": "session-alice", "name": "outcome", "value": "solved"})
    assert (label["target_kind"], label["kind"], label["value"]) == ("session", "label", "solved")


def test_another_keys_request_or_session_is_refused(world: World) -> None:
    alice, _ = world.keys["alice"]
    client = world.gateway.client(alice)
    for body in (
        {"request_id": world.requests["bob"], "name": "thumbs", "value": False},
        {"session_id": "session-bob", "name": "thumbs", "value": False},
    ):
        with pytest.raises(openai.PermissionDeniedError) as caught:
            client.post("/feedback", body=body, cast_to=httpx.Response)
        assert caught.value.status_code == 403
        assert caught.value.body["type"] == "permission_error"  # type: ignore[index]
    assert rows(world, world.requests["bob"]) == [] and rows(world, "session-bob") == []


def test_master_and_admin_keys_score_any_request(world: World) -> None:
    request_id = world.requests["bob"]
    by_master = feedback(world, MASTER_KEY, {"request_id": request_id, "name": "thumbs", "value": 1})
    ops, ops_id = world.keys["ops"]
    by_admin = feedback(world, ops, {"request_id": request_id, "name": "thumbs", "value": 0})
    assert (by_master["source"], by_admin["source"]) == ("master", f"key:{ops_id}")
    admin = world.gateway.post(
        "/admin/feedback",
        json={"session_id": "session-bob", "name": "reviewed", "value": True},
        headers={"authorization": f"Bearer {MASTER_KEY}"},
    )
    assert admin.status_code == 200 and admin.json()["source"] == "master"
    assert {(r["name"], r["source"]) for r in rows(world, request_id)} == {
        ("thumbs", "master"),
        ("thumbs", f"key:{ops_id}"),
    }
    refused = world.gateway.post(
        "/admin/feedback",
        json={"request_id": request_id, "name": "x", "value": 1},
        headers={"authorization": f"Bearer {world.keys['alice'][0]}"},
    )
    assert refused.status_code == 403 and refused.json()["error"]["type"] == "permission_error"


def test_feedback_posted_as_soon_as_the_answer_arrives_waits_for_its_record(world: World) -> None:
    # No flush: the call is recorded in the background, after the answer; the post must not 404.
    key, _ = world.keys["alice"]
    for n in range(5):
        raw = world.gateway.client(key).chat.completions.with_raw_response.create(
            model=MODEL, messages=[{"role": "user", "content": f"rate me {n}"}]
        )
        request_id = raw.headers["x-llmgate-request-id"]
        stored = feedback(world, key, {"request_id": request_id, "name": "thumbs", "value": n % 2 == 0})
        assert stored["target_id"] == request_id and stored["kind"] == "bool"


def test_unknown_request_is_404(world: World) -> None:
    with pytest.raises(openai.NotFoundError):
        world.gateway.client(MASTER_KEY).post(
            "/feedback",
            body={"request_id": "f" * 32, "name": "thumbs", "value": True},
            cast_to=httpx.Response,
        )


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b"not json", None),
        (b"[1]", None),
        (b'{"name": "thumbs", "value": true}', "request_id"),
        (b'{"request_id": "r", "session_id": "s", "name": "t", "value": 1}', "request_id"),
        (b'{"request_id": 5, "name": "t", "value": 1}', "request_id"),
        (b'{"request_id": "r", "value": 1}', "name"),
        (b'{"request_id": "r", "name": "' + b"n" * 65 + b'", "value": 1}', "name"),
        (b'{"request_id": "r", "name": "t"}', "value"),
        (b'{"request_id": "r", "name": "t", "value": null}', "value"),
        (b'{"request_id": "r", "name": "t", "value": [1]}', "value"),
        (b'{"request_id": "r", "name": "t", "value": "' + b"l" * 129 + b'"}', "value"),
        (b'{"request_id": "r", "name": "t", "value": 1, "comment": "' + b"c" * 2001 + b'"}', "comment"),
        (b'{"request_id": "r", "name": "t", "value": 1, "extra": 1}', "extra"),
    ],
)
def test_bad_bodies_are_400_naming_the_field(world: World, body: bytes, param: str | None) -> None:
    answer = world.gateway.post(
        "/v1/feedback",
        content=body,
        headers={"authorization": f"Bearer {world.keys['alice'][0]}", "content-type": "application/json"},
    )
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param


def test_without_a_key_401_and_get_is_405(world: World) -> None:
    assert world.gateway.post("/v1/feedback", json={}).status_code == 401
    assert world.gateway.get("/v1/feedback").status_code == 405


def test_a_request_lists_every_score_from_whom(world: World) -> None:
    request_id = world.requests["alice"]
    feedback(world, MASTER_KEY, {"request_id": request_id, "name": "thumbs", "value": True})
    with world.gateway.state.engine.begin() as conn:  # the monitor's scores of this record
        conn.execute(
            sa.insert(table("monitor_samples")).values(
                record_id=request_id,
                created_at=datetime.now(UTC),
                sampled_at=datetime.now(UTC),
                model=MODEL,
                route="chat/completions",
                embedder="e",
                dim=3,
                groundedness=0.5,
            )
        )
    headers = {"authorization": f"Bearer {MASTER_KEY}"}
    answer = world.gateway.get(f"/admin/requests/{request_id}/scores", headers=headers)
    assert answer.status_code == 200
    seen = {(s["target_kind"], s["name"], s["source"]) for s in answer.json()["scores"]}
    alice_id = world.keys["alice"][1]
    assert {
        ("request", "thumbs", f"key:{alice_id}"),
        ("request", "thumbs", "master"),
        ("session", "outcome", f"key:{alice_id}"),
        ("request", "groundedness", "monitor"),
    } <= seen
    detail = world.gateway.get(f"/ui/api/requests/{request_id}", headers=headers)
    assert detail.status_code == 200
    assert {(s["name"], s["source"]) for s in detail.json()["scores"]} >= {("groundedness", "monitor")}
    assert world.gateway.get("/admin/requests/nope/scores", headers=headers).status_code == 404
