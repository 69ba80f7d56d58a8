"""Canary routing through real HTTP with the openai SDK: two fake upstreams play the stable group
(``chat`` -> ``stable-model``) and the candidate (``chat-next`` -> ``candidate-model``); the
gateway's canary table is filled here as the state follower fills it (``canary/state.py``).

Which arm served a request is read from the upstream that received it (its body's model), and
compared with the response headers and the stored record.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import openai
import orjson
import pytest

from e2e.test_proxy import MESSAGES, records
from llmgate.config.canary_settings import CandidateSpec
from llmgate.routing.canaries import CanaryRoute, CanaryTable, register_candidate
from support.configs import MASTER_KEY
from support.gateway import RunningGateway
from support.keys import add_key
from support.upstream import FakeUpstream, text_for

Make = Callable[..., RunningGateway]


@pytest.fixture
def candidate() -> Iterator[FakeUpstream]:
    upstream = FakeUpstream().start()
    upstream.reply = lambda body: f"candidate: {text_for(body)}"
    yield upstream
    upstream.stop()


def canary_config(stable: FakeUpstream, candidate: FakeUpstream, **litellm: Any) -> dict[str, Any]:
    def entry(name: str, ident: str, upstream: FakeUpstream, model: str) -> dict[str, Any]:
        return {
            "model_name": name,
            "model_info": {"id": ident},
            "litellm_params": {"model": f"openai/{model}", "api_base": upstream.base_url, "api_key": "sk-up"},
        }

    return {
        "model_list": [
            entry("chat", "stable-1", stable, "stable-model"),
            entry("chat-next", "next-1", candidate, "candidate-model"),
            entry("other", "other-1", stable, "other-model"),
        ],
        "router_settings": {"num_retries": 0, "allowed_fails": 1000},
        "litellm_settings": litellm,
        "general_settings": {"master_key": MASTER_KEY},
    }


@pytest.fixture
def gateway(upstream: FakeUpstream, candidate: FakeUpstream, gateway_factory: Make) -> RunningGateway:
    return gateway_factory(canary_config(upstream, candidate))


def route(percent: float, *, candidate_model: str = "chat-next", **kw: Any) -> CanaryRoute:
    return CanaryRoute("chat-v2", "chat", candidate_model, percent, "user", **kw)


def split(gateway: RunningGateway, *routes: CanaryRoute) -> None:
    """Set the split by hand, once the follower has made its first (forced) read of the store: a
    first read landing after it would put back the store's (empty) split mid-test."""
    follower = gateway.state.canary_parts.follower
    deadline = time.monotonic() + 10
    while follower.refreshes < 1:
        assert time.monotonic() < deadline, "the canary follower never read the store"
        time.sleep(0.01)
    gateway.state.canaries.replace(routes)


def on_loop(gateway: RunningGateway, work: Callable[[], Any]) -> Any:
    """Run ``work`` on the gateway's event loop (the router is changed there, as the follower does)."""

    async def run() -> Any:
        return work()

    return asyncio.run_coroutine_threadsafe(run(), gateway.state.loop).result(10)


def ask(gateway: RunningGateway, key: str = MASTER_KEY, model: str = "chat", **kwargs: Any) -> Any:
    """A chat completion through the gateway: (its text, its headers)."""
    kwargs.setdefault("messages", MESSAGES)
    raw = gateway.client(key).chat.completions.with_raw_response.create(model=model, **kwargs)
    return raw.parse().choices[0].message.content, raw.headers


def served_by(upstream: FakeUpstream, candidate: FakeUpstream) -> list[str]:
    """Which arm each received request went to, in order of arrival at either."""
    return [r.body["model"] for r in upstream.received] + [r.body["model"] for r in candidate.received]


def expected_arm(percent: float, user: str) -> str:
    return CanaryTable().assign(route(percent), user=user, session=None, key_id=None, request_id="-")


def test_no_canary_no_header(gateway: RunningGateway, upstream: FakeUpstream) -> None:
    split(gateway, route(100))  # a canary on another model changes nothing here
    _, headers = ask(gateway, model="other")
    assert "x-llmgate-canary" not in headers and "x-llmgate-canary-id" not in headers
    (row,) = records(gateway)
    assert (row["canary_id"], row["arm"]) == (None, None)


def test_users_are_split_sticky_and_labelled(
    gateway: RunningGateway, upstream: FakeUpstream, candidate: FakeUpstream
) -> None:
    split(gateway, route(50))
    users = [f"user-{i}" for i in range(24)]
    arms = {}
    for user in users:
        text, headers = ask(gateway, user=user)
        arms[user] = headers["x-llmgate-canary"]
        assert headers["x-llmgate-canary-id"] == "chat-v2"
        assert text.startswith("candidate: ") == (arms[user] == "candidate")
    assert arms == {user: expected_arm(50, user) for user in users}
    assert set(arms.values()) == {"stable", "candidate"}
    # the upstream each went to is the arm's
    assert [r.body["model"] for r in candidate.received] == ["candidate-model"] * list(arms.values()).count(
        "candidate"
    )
    assert all(r.body["model"] == "stable-model" for r in upstream.received)
    # the same users again: the same arms
    for user in users[:8]:
        assert ask(gateway, user=user)[1]["x-llmgate-canary"] == arms[user]
    rows = records(gateway)
    assert len(rows) == 32
    for row in rows:
        assert row["model"] == "chat"  # the alias the client asked for
        assert row["canary_id"] == "chat-v2" and row["arm"] == arms[row["user"]]
        assert row["deployment"] == ("next-1" if row["arm"] == "candidate" else "stable-1")


def test_raising_the_percent_keeps_the_candidates(gateway: RunningGateway) -> None:
    users = [f"user-{i}" for i in range(30)]
    split(gateway, route(20))
    before = {u for u in users if ask(gateway, user=u)[1]["x-llmgate-canary"] == "candidate"}
    split(gateway, route(60))
    after = {u for u in users if ask(gateway, user=u)[1]["x-llmgate-canary"] == "candidate"}
    assert before <= after and len(after) > len(before)


def test_a_stream_carries_the_headers(gateway: RunningGateway, candidate: FakeUpstream) -> None:
    split(gateway, route(100))
    raw = gateway.client(MASTER_KEY).chat.completions.with_raw_response.create(
        model="chat", messages=MESSAGES, stream=True, user="streamer"
    )
    assert (raw.headers["x-llmgate-canary"], raw.headers["x-llmgate-canary-id"]) == ("candidate", "chat-v2")
    text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    assert text.startswith("candidate: ")
    (row,) = records(gateway)
    assert (row["canary_id"], row["arm"], row["stream"]) == ("chat-v2", "candidate", True)


def test_a_failing_candidate_is_answered_by_stable_and_recorded_as_candidate(
    gateway: RunningGateway, upstream: FakeUpstream, candidate: FakeUpstream
) -> None:
    split(gateway, route(100))
    candidate.down = True
    text, headers = ask(gateway, user="unlucky")
    assert not text.startswith("candidate: ")  # the stable group answered; the app never noticed
    assert headers["x-llmgate-canary"] == "candidate" and headers["x-llmgate-attempts"] == "2"
    assert headers["x-llmgate-model"] == "stable-1"
    assert len(candidate.received) == 1 and len(upstream.received) == 1
    (row,) = records(gateway)
    assert (row["arm"], row["status_code"], row["attempts"], row["deployment"]) == (
        "candidate",
        200,
        2,
        "stable-1",
    )
    attempts = orjson.loads(row["attempts_json"])
    assert [(a["deployment"], a["status"]) for a in attempts] == [
        ("next-1", "error"),
        ("stable-1", "success"),
    ]


def test_an_error_after_routing_carries_the_headers(
    gateway: RunningGateway, upstream: FakeUpstream, candidate: FakeUpstream
) -> None:
    split(gateway, route(100))
    candidate.down = upstream.down = True
    response = gateway.post(
        "/v1/chat/completions",
        headers={"authorization": f"Bearer {MASTER_KEY}"},
        json={"model": "chat", "messages": MESSAGES, "user": "u"},
    )
    assert response.status_code >= 500
    assert response.headers["x-llmgate-canary"] == "candidate"
    assert response.headers["x-llmgate-canary-id"] == "chat-v2"
    (row,) = records(gateway)
    assert (row["canary_id"], row["arm"], row["status"]) == ("chat-v2", "candidate", "error")


def test_a_prompt_and_parameter_variant_reaches_the_upstream(
    gateway: RunningGateway, upstream: FakeUpstream
) -> None:
    spec = CandidateSpec(system_prompt="Answer in one word.", params={"temperature": 0.1, "seed": 5})
    group = on_loop(gateway, lambda: register_candidate(gateway.state.router, "chat-v2", "chat", spec))
    assert group == "canary:chat-v2"
    split(gateway, route(100, candidate_model=group))
    _, headers = ask(gateway, user="u", temperature=0.9)
    assert headers["x-llmgate-canary"] == "candidate"
    assert headers["x-llmgate-model"] == "stable-1@canary:chat-v2"
    (sent,) = upstream.received
    assert sent.body["model"] == "stable-model"
    assert sent.body["messages"] == [{"role": "system", "content": "Answer in one word."}, MESSAGES[1]]
    assert (sent.body["temperature"], sent.body["seed"]) == (0.1, 5)
    (row,) = records(gateway)
    assert orjson.loads(row["request_json"])["messages"] == MESSAGES  # the client's request, as sent
    assert row["deployment"] == "stable-1@canary:chat-v2" and row["arm"] == "candidate"
    # the stable arm is the untouched group
    split(gateway, route(0, candidate_model=group))
    ask(gateway, user="u", temperature=0.9)
    assert (
        upstream.received[1].body["messages"] == MESSAGES and upstream.received[1].body["temperature"] == 0.9
    )


def test_a_variant_group_is_not_a_model_clients_may_name(gateway: RunningGateway) -> None:
    spec = CandidateSpec(system_prompt="Answer in one word.")
    group = on_loop(gateway, lambda: register_candidate(gateway.state.router, "chat-v2", "chat", spec))
    split(gateway, route(50, candidate_model=group))
    client = gateway.client(MASTER_KEY)
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model=group, messages=MESSAGES)
    assert caught.value.body["code"] == "model_not_found"  # type: ignore[index]
    assert group not in [m.id for m in client.models.list().data]


def test_a_forced_arm_is_honoured_for_admin_keys_only(
    gateway: RunningGateway, candidate: FakeUpstream
) -> None:
    split(gateway, route(0))
    engine = gateway.state.engine
    plain, _ = add_key(engine, "app")
    admin, _ = add_key(engine, "ops", admin=True)
    force = {"extra_headers": {"x-llmgate-canary-arm": "candidate"}}
    assert ask(gateway, MASTER_KEY, user="u", **force)[1]["x-llmgate-canary"] == "candidate"
    assert ask(gateway, admin, user="u", **force)[1]["x-llmgate-canary"] == "candidate"
    assert ask(gateway, plain, user="u", **force)[1]["x-llmgate-canary"] == "stable"
    assert len(candidate.received) == 2


def test_a_promoted_route_sends_all_to_the_candidate_without_headers(
    gateway: RunningGateway, upstream: FakeUpstream, candidate: FakeUpstream
) -> None:
    split(gateway, route(100, promoted=True))
    for i in range(6):
        text, headers = ask(gateway, user=f"user-{i}")
        assert text.startswith("candidate: ")
        assert "x-llmgate-canary" not in headers and "x-llmgate-canary-id" not in headers
    assert not upstream.received and len(candidate.received) == 6
    for row in records(gateway):
        assert (row["model"], row["canary_id"], row["arm"]) == ("chat", None, None)


# --- the response cache ------------------------------------------------------------------


@pytest.fixture
def cached(upstream: FakeUpstream, candidate: FakeUpstream, gateway_factory: Make) -> RunningGateway:
    counted = [0]

    def numbered(body: dict[str, Any]) -> str:
        counted[0] += 1
        return f"{text_for(body)} #{counted[0]}"

    upstream.reply = numbered
    candidate.reply = lambda body: f"candidate: {numbered(body)}"
    return gateway_factory(canary_config(upstream, candidate, cache=True, cache_params={"type": "local"}))


def wait_stored(gateway: RunningGateway, entries: int) -> None:
    for _ in range(250):
        stats = gateway.get("/admin/cache/stats", headers={"authorization": f"Bearer {MASTER_KEY}"}).json()
        if (stats["entries"] or 0) >= entries:
            return
        time.sleep(0.02)
    raise AssertionError("no answer was kept")


def test_a_running_canary_bypasses_the_cache_on_both_arms(
    cached: RunningGateway, upstream: FakeUpstream, candidate: FakeUpstream
) -> None:
    first, headers = ask(cached, user="before")  # no canary yet: kept under chat
    assert headers["x-llmgate-cache"] == "miss"
    wait_stored(cached, 1)
    split(cached, route(50))
    users = [f"user-{i}" for i in range(10)]
    answers = [ask(cached, user=u) for u in users]
    assert {h["x-llmgate-canary"] for _, h in answers} == {"stable", "candidate"}
    for text, headers in answers:  # neither arm was answered from the cache: every answer is new
        assert "x-llmgate-cache" not in headers and text != first
    assert len(upstream.received) + len(candidate.received) == 1 + len(users)
    # the stable arm's answers were not kept either: a model without a canary still caches
    split(cached)
    assert ask(cached, user="after")[1]["x-llmgate-cache"] == "hit"


def test_a_promoted_route_is_cached_under_the_candidate(
    cached: RunningGateway, upstream: FakeUpstream, candidate: FakeUpstream
) -> None:
    stable_answer, _ = ask(cached, user="u")
    wait_stored(cached, 1)
    split(cached, route(100, promoted=True))
    text, headers = ask(cached, user="u")  # the stable answer kept before is not the candidate's
    assert text.startswith("candidate: ") and headers["x-llmgate-cache"] == "miss"
    wait_stored(cached, 2)
    again, headers = ask(cached, user="u")
    assert (again, headers["x-llmgate-cache"]) == (text, "hit")
    assert len(candidate.received) == 1 and len(upstream.received) == 1 and stable_answer != text
