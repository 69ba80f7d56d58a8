"""An agent's run as one session: five calls through the ``openai`` SDK with the session headers, nested
by their parents, a step each, against a gateway on a fake upstream (SQLite, and PostgreSQL when
LLMGATE_TEST_DATABASE_URL is set).

``llmgate logs --session`` (the CLI runner on the gateway's store) shows them as one tree with the
right totals, and ``GET /admin/sessions/{id}`` answers the same JSON as ``--format json``; the list
(``GET /admin/sessions``) has the session once. A call outside the session stores NULLs and is in
no session; bad header values are 400s in OpenAI's error shape naming the header; LiteLLM's
``litellm_session_id`` joins a session and never reaches the upstream; the session headers are
never sent upstream either; a canary's ``sticky: session`` follows the same rule.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import openai
import orjson
import pytest
import yaml
from typer.testing import CliRunner

from e2e.test_canary_routing import canary_config
from llmgate.cli.main import app
from llmgate.routing.canaries import BUCKETS, CanaryRoute, bucket
from llmgate.store.call_sessions import list_sessions, session_calls
from llmgate.store.money import cost_text, usd
from llmgate.store.records import get_record
from support.configs import MASTER_KEY, upstream_config
from support.gateway import RunningGateway
from support.postgres import postgres_schema
from support.upstream import FakeUpstream

MODEL = "gpt-4o-mini"
#: the prices of ``upstream_config``'s gpt-4o-mini, per token
PRICE_IN, PRICE_OUT = Decimal("0.0000015"), Decimal("0.000002")
#: the agent's calls: (step, the step of its parent)
PLAN = [("plan", None), ("search", "plan"), ("read-a", "search"), ("read-b", "search"), ("answer", "plan")]


@dataclass
class Run:
    gateway: RunningGateway
    upstream: FakeUpstream
    config: Path
    session: str
    ids: dict[str, str]  # step -> request id
    usage: dict[str, tuple[int, int]]  # step -> (prompt, completion) tokens the client was told
    plain_id: str


def chat(client: Any, content: str, headers: dict[str, str], **kwargs: Any) -> Any:
    return client.chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": content}], extra_headers=headers, **kwargs
    )


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('sessions') / 'store.db'}"
        return
    base = os.environ.get("LLMGATE_TEST_DATABASE_URL")
    if not base:
        pytest.skip("LLMGATE_TEST_DATABASE_URL is not set")
    with postgres_schema(base) as url:
        yield url


@pytest.fixture(scope="module")
def run(store_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tmp = tmp_path_factory.mktemp("gateway")
    upstream = FakeUpstream().start()
    config = upstream_config(upstream, database_url=store_url)
    config_path = tmp / "llmgate.yaml"
    config_path.write_text(yaml.safe_dump(config))
    gateway = RunningGateway(config, tmp).start()
    try:
        client = gateway.client(MASTER_KEY)
        session = f"agent-run {uuid.uuid4().hex[:8]}"  # any printable text, spaces included
        ids: dict[str, str] = {}
        usage: dict[str, tuple[int, int]] = {}
        for n, (step, parent) in enumerate(PLAN):
            headers = {"x-llmgate-session-id": session, "x-llmgate-step": step}
            if parent is not None:
                headers["x-llmgate-parent-id"] = ids[parent]
            raw = chat(client, f"{step}: what next?" + " and then" * n, headers)  # tokens differ per call
            ids[step] = raw.headers["x-llmgate-request-id"]
            answer = raw.parse()
            usage[step] = (answer.usage.prompt_tokens, answer.usage.completion_tokens)
        plain = chat(client, "a call outside any session", {})
        gateway.flush()
        yield Run(gateway, upstream, config_path, session, ids, usage, plain.headers["x-llmgate-request-id"])
    finally:
        gateway.stop()
        upstream.stop()


def logs(run: Run, *args: str) -> Any:
    result = CliRunner().invoke(app, ["logs", "--config", str(run.config), *args])
    assert result.exit_code == 0, result.output
    return result


def expected_totals(run: Run) -> tuple[int, int, Decimal]:
    prompt = sum(p for p, _ in run.usage.values())
    completion = sum(c for _, c in run.usage.values())
    return prompt, completion, prompt * PRICE_IN + completion * PRICE_OUT


def test_logs_session_shows_the_run_as_one_tree_with_its_totals(run: Run) -> None:
    table = logs(run, "--session", run.session).stdout
    lines = table.splitlines()
    # the tree, parents before children, each call under the one it named
    expected = ["plan", "├─ search", "│  ├─ read-a", "│  └─ read-b", "└─ answer"]
    shown = [next(line.strip() for line in lines if run.ids[step][:12] in line) for step, _ in PLAN]
    order = [next(i for i, line in enumerate(lines) if run.ids[step][:12] in line) for step, _ in PLAN]
    assert [shown[i].startswith(prefix + " ") for i, prefix in enumerate(expected)] == [True] * 5, shown
    assert order == list(range(order[0], order[0] + 5))  # one after another: plan, search, read-a/b, answer
    assert run.plain_id[:12] not in table
    prompt, completion, cost = expected_totals(run)
    total = next(line for line in lines if line.strip().startswith("total"))
    assert "5 calls, no errors" in total
    assert f"{prompt:,}" in total and f"{completion:,}" in total and usd(cost) in total
    latencies = [
        get_record(run.gateway.state.engine, record_id)["latency_ms"] for record_id in run.ids.values()
    ]
    assert f"{round(sum(latencies), 3):.1f}" in total
    # each call's own figures
    read_a = shown[2]
    assert MODEL in read_a and f"{run.usage['read-a'][0]:,}" in read_a
    assert usd(run.usage["read-a"][0] * PRICE_IN + run.usage["read-a"][1] * PRICE_OUT) in read_a


def test_the_json_of_logs_session_and_the_admin_api_agree(run: Run) -> None:
    as_json = orjson.loads(logs(run, "--session", run.session, "--format", "json").stdout)
    response = httpx.get(
        run.gateway.url + "/admin/sessions/" + quote(run.session, safe=""),
        headers={"Authorization": f"Bearer {MASTER_KEY}"},
        timeout=20,
    )
    assert response.status_code == 200, response.text
    assert response.json() == as_json
    calls = as_json["calls"]
    assert [c["step"] for c in calls] == [step for step, _ in PLAN]
    assert [c["depth"] for c in calls] == [0, 1, 2, 2, 1]
    parents = {c["step"]: c["parent_id"] for c in calls}
    assert parents == {step: (run.ids[p] if p else None) for step, p in PLAN}
    assert all(c["parent_known"] for c in calls[1:]) and [c["children"] for c in calls] == [2, 2, 0, 0, 0]
    assert calls[0]["offset_ms"] == 0.0 and all(b["offset_ms"] >= 0 for b in calls)
    prompt, completion, cost = expected_totals(run)
    totals = as_json["totals"]
    assert (totals["calls"], totals["errors"], totals["prompt_tokens"], totals["completion_tokens"]) == (
        5,
        0,
        prompt,
        completion,
    )
    assert totals["cost_usd"] == cost_text(cost) and totals["cost_unknown"] == 0
    assert totals["latency_ms"] == pytest.approx(sum(c["latency_ms"] for c in calls), abs=1e-3)
    assert totals["steps"] == sorted(step for step, _ in PLAN) and totals["models"] == [MODEL]
    # the list has the session once, with the same figures
    listed = httpx.get(
        run.gateway.url + "/admin/sessions",
        params={"since": "1h"},
        headers={"Authorization": f"Bearer {MASTER_KEY}"},
        timeout=20,
    ).json()["sessions"]
    (line,) = [s for s in listed if s["session_id"] == run.session]
    assert (line["calls"], line["errors"], line["cost_usd"], line["models"]) == (
        5,
        0,
        cost_text(cost),
        [MODEL],
    )
    assert (line["prompt_tokens"], line["completion_tokens"]) == (prompt, completion)
    missing = httpx.get(
        run.gateway.url + "/admin/sessions/no-such-session",
        headers={"Authorization": f"Bearer {MASTER_KEY}"},
        timeout=20,
    )
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_rows_without_a_session_are_unaffected_and_nothing_reaches_the_upstream(run: Run) -> None:
    engine = run.gateway.state.engine
    plain = get_record(engine, run.plain_id)
    assert plain is not None and (plain["session_id"], plain["parent_id"], plain["step"]) == (
        None,
        None,
        None,
    )
    assert plain["status"] == "success" and plain["cost_usd"] > 0
    assert all(s["session_id"] is not None for s in list_sessions(engine))
    child = get_record(engine, run.ids["read-b"])
    assert child is not None and (child["session_id"], child["parent_id"], child["step"]) == (
        run.session,
        run.ids["search"],
        "read-b",
    )
    for received in run.upstream.received:  # the session is the gateway's: never forwarded
        assert not any(name.lower().startswith("x-llmgate") for name in received.headers)
        assert "litellm_session_id" not in received.body


def test_litellms_session_field_joins_a_session(run: Run) -> None:
    client = run.gateway.client(MASTER_KEY)
    session = f"litellm-{uuid.uuid4().hex[:8]}"
    first = chat(client, "first", {}, extra_body={"litellm_session_id": session})
    second = chat(client, "second", {}, metadata={"session_id": session, "step": "follow-up"})
    run.gateway.flush()
    calls = session_calls(run.gateway.state.engine, session)
    assert [c["id"] for c in calls] == [
        first.headers["x-llmgate-request-id"],
        second.headers["x-llmgate-request-id"],
    ]
    assert [c["step"] for c in calls] == [None, "follow-up"]
    assert "litellm_session_id" not in run.upstream.received[-2].body


@pytest.mark.parametrize(
    ("headers", "extra", "param"),
    [
        ({"x-llmgate-session-id": "s" * 129}, {}, "x-llmgate-session-id"),
        (
            {"x-llmgate-session-id": "ok", "x-llmgate-parent-id": "not-a-request-id"},
            {},
            "x-llmgate-parent-id",
        ),
        ({"x-llmgate-step": "x" * 200}, {}, "x-llmgate-step"),
        ({}, {"extra_body": {"metadata": {"session_id": 42}}}, "metadata.session_id"),
    ],
)
def test_bad_session_values_are_400s_naming_them(
    run: Run, headers: dict[str, str], extra: dict[str, Any], param: str
) -> None:
    client = run.gateway.client(MASTER_KEY)
    before = len(run.upstream.received)
    with pytest.raises(openai.BadRequestError) as raised:
        chat(client, "refused", headers, **extra)
    error = raised.value.response.json()["error"]
    assert (error["type"], error["param"]) == ("invalid_request_error", param)
    assert error["message"].startswith(param + ":")
    assert len(run.upstream.received) == before  # refused before any upstream


def test_canary_stickiness_follows_the_same_session_rule(
    upstream: FakeUpstream, gateway_factory: Callable[..., RunningGateway]
) -> None:
    """A canary with ``sticky: session`` puts a session on the arm its id hashes to, whichever way
    the session was named: the new header, its older name, or LiteLLM's body field."""
    candidate = FakeUpstream().start()
    try:
        gateway = gateway_factory(canary_config(upstream, candidate))
        gateway.state.canaries.replace([CanaryRoute("chat-v2", "chat", "chat-next", 50.0, "session")])
        client = gateway.client(MASTER_KEY)
        sessions = [f"conversation-{n}" for n in range(12)]
        expected = {s: "candidate" if bucket("chat-v2", s) < BUCKETS // 2 else "stable" for s in sessions}
        assert set(expected.values()) == {"stable", "candidate"}
        for n, session in enumerate(sessions):
            named: dict[str, Any] = [
                {"extra_headers": {"x-llmgate-session-id": session}},
                {"extra_headers": {"x-llmgate-session": session}},
                {"extra_body": {"litellm_session_id": session}},
            ][n % 3]
            raw = client.chat.completions.with_raw_response.create(
                model="chat", messages=[{"role": "user", "content": "hi"}], user=f"user-{n}", **named
            )
            assert raw.headers["x-llmgate-canary"] == expected[session], (session, named)
    finally:
        candidate.stop()
