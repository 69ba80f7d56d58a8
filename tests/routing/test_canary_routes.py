"""Canary routing as pure logic (``routing/canaries.py``): the sticky split, ``steer``, the candidate's
model group on the router, variant bodies, and the retry loop's ``via`` (the candidate tried first,
the stable group after it)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import pytest

from llmgate.config import parse_config
from llmgate.config.canary_settings import CandidateSpec
from llmgate.config.deployment import Deployment, build_deployments
from llmgate.errors import InvalidRequest, ModelNotFound, UpstreamRejected
from llmgate.protocol.session_headers import SESSION_ALIAS, SESSION_HEADER, call_session
from llmgate.routing import Router
from llmgate.routing.canaries import (
    ARM_HEADER,
    BUCKETS,
    CanaryRoute,
    CanaryTable,
    bucket,
    canary_headers,
    register_candidate,
    release_candidate,
    variant_body,
)
from routing.test_attempts import FakeClock, Script, Try, build, failing, rejected

USERS = [f"user-{i}" for i in range(20_000)]


def route(percent: float, sticky: str = "user", **kw: Any) -> CanaryRoute:
    return CanaryRoute("chat-v2", "chat", "chat-next", percent, sticky, **kw)


@dataclass
class Call:
    """The fields of a CallRecord that ``steer`` reads and writes."""

    id: str = "req-1"
    model: str = "chat"
    user: str | None = None
    key_id: str | None = None
    session_id: str | None = None
    canary_id: str | None = None
    arm: str | None = None


def arm_of(table: CanaryTable, r: CanaryRoute, user: str) -> str:
    return table.assign(r, user=user, session=None, key_id=None, request_id="r")


# --- the split ---------------------------------------------------------------------------


@pytest.mark.parametrize("percent", [1, 5, 25, 50])
def test_the_candidate_share_over_many_users_is_near_the_percent(percent: float) -> None:
    table = CanaryTable()
    share = sum(arm_of(table, route(percent), u) == "candidate" for u in USERS) / len(USERS)
    # binomial sd at 20,000 users is at most 0.35 points: 1.5 points is over 4 sd
    assert abs(share * 100 - percent) < 1.5


def test_zero_and_hundred_percent_are_all_one_arm() -> None:
    table = CanaryTable()
    assert {arm_of(table, route(0), u) for u in USERS[:500]} == {"stable"}
    assert {arm_of(table, route(100), u) for u in USERS[:500]} == {"candidate"}


def test_a_user_keeps_its_arm_and_raising_the_percent_keeps_the_candidates() -> None:
    table = CanaryTable()
    before = {u for u in USERS if arm_of(table, route(10), u) == "candidate"}
    assert before == {u for u in USERS if arm_of(table, route(10), u) == "candidate"}  # same again
    after = {u for u in USERS if arm_of(table, route(50), u) == "candidate"}
    assert before < after
    assert len(after) > 4 * len(before)


def test_buckets_are_independent_across_canaries() -> None:
    a = [bucket("canary-a", u) < BUCKETS // 10 for u in USERS]
    b = [bucket("canary-b", u) < BUCKETS // 10 for u in USERS]
    both = sum(x and y for x, y in zip(a, b, strict=True)) / len(USERS)
    assert abs(both - 0.01) < 0.005  # 10% of 10%, not 10%


def test_sticky_values() -> None:
    table = CanaryTable()
    # find users in each arm at 50%, then check which value each sticky mode reads
    cand = next(u for u in USERS if arm_of(table, route(50), u) == "candidate")
    stab = next(u for u in USERS if arm_of(table, route(50), u) == "stable")

    def assign(sticky: str, **values: Any) -> str:
        given = {"user": None, "session": None, "key_id": None, "request_id": "r", **values}
        return table.assign(route(50, sticky), **given)

    assert assign("user", user=cand, key_id=stab) == "candidate"
    assert assign("user", key_id=cand, request_id=stab) == "candidate"  # no user: the key
    assert assign("user", request_id=cand) == "candidate"  # nothing else: the request
    assert assign("key", user=stab, key_id=cand) == "candidate"
    assert assign("key", user=cand, request_id=stab) == "stable"  # no key: the request, never the user
    assert assign("session", session=cand, user=stab) == "candidate"
    assert assign("session", user=cand, key_id=stab) == "candidate"  # no session: as user


# --- steer -------------------------------------------------------------------------------


def test_no_canary_on_the_model_changes_nothing() -> None:
    table = CanaryTable([route(50)])
    call = Call(model="other", user="u")
    assert table.steer(call, {}, admin=True) is None
    assert (call.canary_id, call.arm) == (None, None)
    assert canary_headers(call) == {}


def test_steer_notes_the_arm_and_returns_the_candidate_group() -> None:
    table = CanaryTable([route(50)])
    cand = next(u for u in USERS if arm_of(table, route(50), u) == "candidate")
    stab = next(u for u in USERS if arm_of(table, route(50), u) == "stable")
    call = Call(user=cand)
    assert table.steer(call, {}, admin=False) == "chat-next"
    assert (call.canary_id, call.arm) == ("chat-v2", "candidate")
    assert canary_headers(call) == {"x-llmgate-canary": "candidate", "x-llmgate-canary-id": "chat-v2"}
    call = Call(user=stab)
    assert table.steer(call, {}, admin=False) is None
    assert (call.canary_id, call.arm) == ("chat-v2", "stable")


def test_a_session_comes_from_the_header_or_the_metadata() -> None:
    table = CanaryTable([route(50, "session")])
    cand = next(u for u in USERS if arm_of(table, route(50), u) == "candidate")
    stab = next(u for u in USERS if arm_of(table, route(50), u) == "stable")
    # the session as the gateway reads it (protocol/session_headers.py), from either header or the metadata
    for headers, metadata in (
        ({SESSION_HEADER: cand}, None),
        ({SESSION_ALIAS: cand}, None),
        ({}, {"session_id": cand}),
    ):
        call = Call(user=stab, session_id=call_session(headers, {}, metadata).session_id)
        assert table.steer(call, {}, admin=False) == "chat-next"
    # steer itself reads no header: the gateway read the session once, by that rule
    assert table.steer(Call(user=stab), {SESSION_ALIAS: cand}, admin=False) is None


def test_a_forced_arm_is_honoured_for_admins_only() -> None:
    table = CanaryTable([route(0)])
    call = Call(user="u")
    assert table.steer(call, {ARM_HEADER: "candidate"}, admin=True) == "chat-next"
    assert call.arm == "candidate-pinned"  # recorded apart: the gates count live traffic only
    assert canary_headers(call)["x-llmgate-canary"] == "candidate"
    call = Call(user="u")
    assert table.steer(call, {ARM_HEADER: "candidate"}, admin=False) is None
    assert call.arm == "stable"
    table.replace([route(100)])
    call = Call(user="u")
    assert table.steer(call, {ARM_HEADER: "stable"}, admin=True) is None and call.arm == "stable-pinned"
    call = Call(user="u")
    assert table.steer(call, {ARM_HEADER: "bogus"}, admin=True) == "chat-next"  # not an arm: ignored


def test_a_promoted_route_sends_everything_to_the_candidate_unlabelled() -> None:
    table = CanaryTable([route(100, promoted=True)])
    for user in USERS[:50]:
        call = Call(user=user)
        assert table.steer(call, {ARM_HEADER: "stable"}, admin=True) == "chat-next"
        assert (call.canary_id, call.arm) == (None, None)


def test_replace_swaps_the_whole_table() -> None:
    table = CanaryTable([route(50)])
    assert table.route("chat") == route(50)
    table.replace([CanaryRoute("x", "other", "canary:x", 5, "key")])
    assert table.route("chat") is None
    assert [r.canary_id for r in table.routes] == ["x"]


# --- the candidate's group ---------------------------------------------------------------


#: the deployments the app's providers were told of (``Router.on_new_deployment``)
seen: list[str] = []


def router() -> Router:
    config = parse_config(
        {
            "model_list": [
                {
                    "model_name": "chat",
                    "litellm_params": {"model": "mock/a", "temperature": 0.9},
                    "model_info": {"id": "chat-1"},
                },
                {"model_name": "chat", "litellm_params": {"model": "mock/b"}, "model_info": {"id": "chat-2"}},
                {"model_name": "next", "litellm_params": {"model": "mock/c"}, "model_info": {"id": "next-1"}},
                {"model_name": "next", "litellm_params": {"model": "mock/d"}, "model_info": {"id": "next-2"}},
            ]
        }
    )
    made = Router(build_deployments(config))
    made.on_new_deployment = lambda d: seen.append(d.id)
    return made


def test_another_group_is_the_candidate_as_it_is() -> None:
    r = router()
    assert register_candidate(r, "c1", "chat", CandidateSpec(model="next")) == "next"
    assert r.model_names == ["chat", "next"]
    with pytest.raises(ModelNotFound):
        r.group("canary:c1")


def test_a_deployment_candidate_gets_a_group_of_its_own() -> None:
    r = router()
    seen.clear()
    assert register_candidate(r, "c1", "chat", CandidateSpec(deployment="next-2")) == "canary:c1"
    (only,) = r.group("canary:c1")
    assert (only.id, only.upstream_model, only.model_name) == ("next-2", "d", "canary:c1")
    assert r.fallbacks_for("canary:c1") == ["chat"]
    assert r.model_names == ["chat", "next"]  # not listed to clients
    assert seen == ["next-2"]  # the app's providers learn it
    # a bare name that is no group but a deployment (the CLI's --candidate) is the same
    assert register_candidate(r, "c2", "chat", CandidateSpec(model="next-1")) == "canary:c2"
    assert [d.id for d in r.group("canary:c2")] == ["next-1"]


def test_a_deployment_of_the_stable_group_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="serves 'chat' itself"):
        register_candidate(router(), "c1", "chat", CandidateSpec(deployment="chat-2"))


def test_unknown_candidates_are_not_found() -> None:
    r = router()
    for spec in (CandidateSpec(model="gone"), CandidateSpec(deployment="gone")):
        with pytest.raises(ModelNotFound):
            register_candidate(r, "c1", "chat", spec)


def test_a_variant_copies_the_group_with_the_prompt_and_parameters() -> None:
    r = router()
    spec = CandidateSpec(system_prompt="Be brief.", params={"temperature": 0.1})
    assert register_candidate(r, "c1", "chat", spec) == "canary:c1"
    variants = r.group("canary:c1")
    assert [d.id for d in variants] == ["chat-1@canary:c1", "chat-2@canary:c1"]
    assert all(d.system_prompt == "Be brief." for d in variants)
    assert all(d.request_overrides == {"temperature": 0.1} for d in variants)
    assert [d.upstream_model for d in variants] == ["a", "b"]
    # the stable group is untouched
    assert [(d.id, d.system_prompt, d.request_overrides) for d in r.group("chat")] == [
        ("chat-1", None, {}),
        ("chat-2", None, {}),
    ]
    # another group with other parameters: a variant of that group
    assert register_candidate(r, "c1", "chat", CandidateSpec(model="next", params={"seed": 1})) == "canary:c1"
    assert [d.id for d in r.group("canary:c1")] == ["next-1@canary:c1", "next-2@canary:c1"]
    # re-registered as a plain group: the variant group goes
    assert register_candidate(r, "c1", "chat", CandidateSpec(model="next")) == "next"
    with pytest.raises(ModelNotFound):
        r.group("canary:c1")


def test_release_and_configured_groups() -> None:
    r = router()
    register_candidate(r, "c1", "chat", CandidateSpec(deployment="next-1"))
    release_candidate(r, "c1")
    with pytest.raises(ModelNotFound):
        r.group("canary:c1")
    assert r.fallbacks_for("canary:c1") == []
    release_candidate(r, "never")  # nothing to forget: nothing happens
    with pytest.raises(ValueError, match="configured model group"):
        r.add_group("chat", r.group("next"))
    r.remove_group("chat")  # a configured group is never removed
    assert [d.id for d in r.group("chat")] == ["chat-1", "chat-2"]


# --- variant bodies ----------------------------------------------------------------------


def variant(**fields: Any) -> Deployment:
    (base,) = [d for d in router().deployments if d.id == "chat-2"]
    return dataclasses.replace(base, **fields)


def test_a_system_prompt_replaces_the_first_system_message() -> None:
    messages = [
        {"role": "system", "content": "old"},
        {"role": "user", "content": "hi"},
        {"role": "system", "content": "second"},
    ]
    body: dict[str, Any] = {"model": "b", "messages": messages, "temperature": 1}
    variant_body(body, variant(system_prompt="new", request_overrides={"temperature": 0}), "chat/completions")
    assert body["messages"] == [
        {"role": "system", "content": "new"},
        {"role": "user", "content": "hi"},
        {"role": "system", "content": "second"},
    ]
    assert body["temperature"] == 0  # forced, over the client's
    assert messages[0]["content"] == "old"  # the client's request, as recorded, is unchanged


def test_a_system_prompt_goes_first_when_there_is_none() -> None:
    body: dict[str, Any] = {"messages": [{"role": "user", "content": "hi"}]}
    variant_body(body, variant(system_prompt="new"), "chat/completions")
    assert body["messages"] == [{"role": "system", "content": "new"}, {"role": "user", "content": "hi"}]


def test_only_chat_bodies_get_the_system_prompt() -> None:
    body: dict[str, Any] = {"prompt": "hi", "messages": None}
    variant_body(body, variant(system_prompt="new", request_overrides={"seed": 3}), "completions")
    assert body == {"prompt": "hi", "messages": None, "seed": 3}
    anthropic: dict[str, Any] = {"messages": [{"role": "user", "content": "hi"}]}
    variant_body(anthropic, variant(system_prompt="new"), "messages")
    assert anthropic == {"messages": [{"role": "user", "content": "hi"}]}


# --- the retry loop's via ----------------------------------------------------------------


async def test_a_failing_candidate_falls_back_to_the_stable_group() -> None:
    clock = FakeClock()
    loop, _ = build({"chat": ["s"], "next": ["c"]}, clock, num_retries=1, allowed_fails=10)
    script = Script(clock, {"s": ["stable answer"], "c": [failing()]})
    trail: list[Try] = []
    answer = await loop.first_answer("chat", script, trail, started=clock(), via="next")
    assert answer == "stable answer"
    assert [(t[0], t[1]) for t in trail] == [
        ("c", "upstream_error"),
        ("c", "upstream_error"),
        ("s", "success"),
    ]


async def test_a_candidate_refusing_the_request_falls_back_too() -> None:
    clock = FakeClock()
    loop, _ = build({"chat": ["s"], "next": ["c"]}, clock, allowed_fails=10)
    script = Script(clock, {"s": ["stable answer"], "c": [rejected(400)]})
    trail: list[Try] = []
    assert await loop.first_answer("chat", script, trail, started=clock(), via="next") == "stable answer"
    assert [t[0] for t in trail] == ["c", "s"]
    # without via, the same refusal is the caller's answer (nothing changed for other traffic)
    script = Script(clock, {"c": [rejected(400)]})
    with pytest.raises(UpstreamRejected):  # the rejection as it came
        await loop.first_answer("next", script, [], started=clock())
    assert [d for d, _ in script.calls] == ["c"]


async def test_a_candidate_that_answers_is_the_answer() -> None:
    clock = FakeClock()
    loop, _ = build({"chat": ["s"], "next": ["c"]}, clock)
    script = Script(clock, {"s": ["stable"], "c": ["candidate"]})
    trail: list[Try] = []
    assert await loop.first_answer("chat", script, trail, started=clock(), via="next") == "candidate"
    assert [t[0] for t in trail] == ["c"]
    # via the model itself (an A/A canary): the model's group once
    trail = []
    assert await loop.first_answer("chat", script, trail, started=clock(), via="chat") == "stable"
    assert [t[0] for t in trail] == ["s"]


async def test_a_candidate_cooling_down_is_a_failed_attempt_on_the_record() -> None:
    # its circuit open, the candidate is not called, but the call must still show the candidate
    # failed it (attempts > 1), or the canary's error gate would read stable's answers as its own
    clock = FakeClock()
    loop, router = build({"chat": ["s"], "next": ["c"]}, clock, num_retries=0, allowed_fails=1)
    router.health.failure("c", "upstream_error", counts=True)
    assert not router.health.available("c")
    script = Script(clock, {"s": ["stable answer"]})
    trail: list[Try] = []
    assert await loop.first_answer("chat", script, trail, started=clock(), via="next") == "stable answer"
    assert [(t[0], t[1]) for t in trail] == [("c", "upstream_unavailable"), ("s", "success")]
    assert [d for d, _ in script.calls] == ["s"]  # the candidate itself was not called
