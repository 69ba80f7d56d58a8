"""The canary controller (canary/controller.py) on a seeded SQLite store: the requests a canary
routed (rows with canary_id and arm) are its evidence. A candidate failing 40% of its calls is rolled
back (0%, the alert to a webhook on loopback, stored with first_affected_at and resolved_at); one
identical to stable is promoted step by step to 100%; every evaluation is kept on the canary; the
eval gate runs before a promotion; config canaries are created once; only the leader acts (Redis,
or a lock file)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from llmgate.canary.actions import CanaryActions, Catalog
from llmgate.canary.controller import CanaryController
from llmgate.canary.gates import GateResult
from llmgate.canary.leader import FileLeadership, RedisLeadership
from llmgate.config import parse_config
from llmgate.config.canary_settings import CanarySettings
from llmgate.store.alerts import list_alerts
from llmgate.store.canaries import canary_events, get_canary
from llmgate.store.canary_evidence import evidence_rows
from llmgate.store.db import create_engine_for
from llmgate.store.migrate import upgrade
from llmgate.store.monitors import insert_samples
from llmgate.store.records import insert_records
from llmgate.telemetry.alerts import WebhookSink
from support.migrated import copy_migrated
from support.postgres import postgres_schema
from support.webhook import Receiver

CONFIG = parse_config(
    {
        "model_list": [
            {"model_name": "chat-model", "litellm_params": {"model": "mock/echo"}},
            {"model_name": "chat-model-v2", "litellm_params": {"model": "mock/echo"}},
        ]
    }
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path / 'store.db'}"
        else:
            base = os.environ.get("LLMGATE_TEST_DATABASE_URL")
            if not base:
                pytest.skip("LLMGATE_TEST_DATABASE_URL is not set")
            url = stack.enter_context(postgres_schema(base))
        copy_migrated(url)  # a copy of a store migrated once per session; upgrade: a no-op at head
        engine = create_engine_for(url)
        upgrade(engine)
        yield engine
        engine.dispose()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver()
    yield hook
    hook.close()


def start(engine: Engine, **options: Any) -> None:
    actions = CanaryActions(engine, Catalog.of(CONFIG), actor="test", source="api")
    actions.start(model="chat-model", candidate="chat-model-v2", **({"steps": "10,50,100"} | options))


def seed(
    engine: Engine,
    rng: random.Random,
    arm: str,
    n: int,
    *,
    error_rate: float = 0.0,
    at: datetime | None = None,
    canary_id: str = "chat-model",
) -> None:
    """``n`` requests of one arm, latency ~ 200 +- 40 ms, 1 in ``1/error_rate`` failed."""
    base = at or datetime.now(UTC)
    rows = []
    for i in range(n):
        failed = rng.random() < error_rate
        rows.append(
            {
                "id": uuid.uuid4().hex,
                "created_at": base + timedelta(microseconds=i),
                "endpoint": "chat/completions",
                "model": "chat-model",
                "status": "error" if failed else "success",
                "status_code": 502 if failed else 200,
                "latency_ms": rng.gauss(200, 40),
                "attempts": 1,
                "stream": False,
                "cost_usd": "0.0001",
                "response_text": None if failed else "The answer is in the context.",
                "response_chars": None if failed else 30 + rng.randint(0, 10),
                "finish_reason": None if failed else "stop",
                "canary_id": canary_id,
                "arm": arm,
            }
        )
    insert_records(engine, rows)


def controller(engine: Engine, lock: Path, **options: Any) -> CanaryController:
    return CanaryController(lambda: engine, FileLeadership(lock), settle_s=0.0, **options)


def test_a_candidate_failing_40_percent_is_rolled_back_and_alerted(
    engine: Engine, tmp_path: Path, receiver: Receiver
) -> None:
    start(engine)
    rng = random.Random(1)
    first = datetime.now(UTC) + timedelta(milliseconds=1)
    seed(engine, rng, "candidate", 300, error_rate=0.4, at=first)
    seed(engine, rng, "stable", 2700)
    time.sleep(0.01)
    control = controller(engine, tmp_path / "lock", sinks=[WebhookSink(receiver.url)])
    asyncio.run(control.tick())

    row = get_canary(engine, "chat-model")
    assert row is not None and (row.status, row.percent) == ("rolled_back", 0.0)
    assert row.last_evaluation["decision"]["action"] == "rollback"
    assert "errors" in row.last_evaluation["decision"]["failing"]
    rollback = canary_events(engine, "chat-model", actions=["rollback"])
    assert len(rollback) == 1 and rollback[0]["actor"] == "controller"
    assert rollback[0]["details"]["candidate_requests"] == 300

    (alert,) = receiver.bodies
    assert (alert["kind"], alert["source"], alert["severity"]) == ("canary.rolled_back", "canary", "critical")
    errors = next(g for g in alert["details"]["failing"] if g["name"] == "errors")
    assert errors["verdict"] == "fail" and errors["low"] > errors["tolerance"] == 0.02
    assert errors["n_candidate"] == 300 and errors["n_stable"] == 2700
    assert alert["details"]["candidate_requests"] == 300
    assert datetime.fromisoformat(alert["details"]["first_affected_at"]) == first

    (stored,) = list_alerts(engine)
    assert stored["kind"] == "canary.rolled_back"
    assert stored["first_affected_at"] == first and stored["resolved_at"] is not None
    assert stored["resolved_at"] >= stored["first_affected_at"]

    asyncio.run(control.tick())  # ended: nothing more happens to it
    assert len(canary_events(engine, "chat-model", actions=["rollback"])) == 1


def test_an_identical_candidate_is_promoted_step_by_step(
    engine: Engine, tmp_path: Path, receiver: Receiver
) -> None:
    start(engine, min_step_requests=200)
    rng = random.Random(2)
    control = controller(engine, tmp_path / "lock", sinks=[WebhookSink(receiver.url)])
    percents = []
    for _ in range(3):
        seed(engine, rng, "candidate", 2000)
        seed(engine, rng, "stable", 2000)
        time.sleep(0.01)
        asyncio.run(control.tick())
        row = get_canary(engine, "chat-model")
        assert row is not None
        percents.append((row.percent, row.status))
        if row.status == "promoted":
            break
    assert percents == [(50.0, "running"), (100.0, "promoted")]
    actions = [e["action"] for e in canary_events(engine, "chat-model")]
    assert actions == ["start", "step", "promote"]
    assert receiver.kinds() == ["canary.promoted"]
    (stored,) = list_alerts(engine)
    assert (stored["kind"], stored["severity"]) == ("canary.promoted", "info")


def test_a_promotion_waits_for_the_monitors_first_samples_of_each_arm(engine: Engine, tmp_path: Path) -> None:
    """While the monitors sample the model, quality gates without scores mean "not scored yet"
    (the monitor passes every ``monitors.interval_s``): the live gates alone do not promote."""
    start(engine, min_step_requests=200)
    rng = random.Random(4)
    seed(engine, rng, "candidate", 2000)
    seed(engine, rng, "stable", 2000)
    time.sleep(0.01)
    control = controller(engine, tmp_path / "lock", monitored=lambda model: model == "chat-model")
    asyncio.run(control.tick())
    row = get_canary(engine, "chat-model")
    assert row is not None and (row.status, row.percent) == ("running", 10.0)
    decision = row.last_evaluation["decision"]
    assert decision["action"] == "hold" and "monitors" in decision["reason"]
    rows, _ = evidence_rows(engine, "chat-model", None)
    one_each = {row["arm"]: row for row in rows}.values()
    now = datetime.now(UTC)
    insert_samples(  # the monitor sampled one request of each arm (no RAG: no scores)
        engine,
        [
            {"record_id": r["id"], "created_at": r["created_at"], "sampled_at": now, "model": "chat-model"}
            | {"route": "chat/completions", "embedder": "test", "dim": 8}
            for r in one_each
        ],
    )
    asyncio.run(control.tick())
    row = get_canary(engine, "chat-model")
    assert row is not None and (row.status, row.percent) == ("running", 50.0)
    assert {g["name"]: g["verdict"] for g in row.last_evaluation["gates"]}["groundedness"] == "no_data"


def test_a_step_waits_for_its_own_candidate_requests(engine: Engine, tmp_path: Path) -> None:
    start(engine, min_step_requests=500)
    rng = random.Random(3)
    seed(engine, rng, "candidate", 2000, at=datetime.now(UTC) - timedelta(hours=1))  # before the start
    seed(engine, rng, "stable", 2000, at=datetime.now(UTC) - timedelta(hours=1))
    seed(engine, rng, "candidate", 100)
    time.sleep(0.01)
    control = controller(engine, tmp_path / "lock")
    asyncio.run(control.tick())
    row = get_canary(engine, "chat-model")
    assert row is not None and (row.status, row.percent) == ("running", 10.0)
    evaluation = row.last_evaluation
    assert evaluation["decision"]["action"] == "hold"
    assert evaluation["step_requests"] == 100 and evaluation["candidate_requests"] == 2100
    assert {g["name"] for g in evaluation["gates"]} >= {"errors", "latency", "groundedness"}
    grounded = next(g for g in evaluation["gates"] if g["name"] == "groundedness")
    assert grounded["verdict"] == "no_data"  # no monitor scores: it does not hold the step
    (event,) = canary_events(engine, "chat-model", actions=["evaluate"])
    assert event["details"]["decision"]["action"] == "hold"


def test_rows_recorded_after_the_reader_passed_them_still_count(engine: Engine, tmp_path: Path) -> None:
    # a slow call is recorded when it ends: behind rows that started after it
    start(engine, min_step_requests=10_000)
    rng = random.Random(4)
    early = datetime.now(UTC)
    seed(engine, rng, "stable", 100, at=early + timedelta(seconds=1))
    time.sleep(0.01)
    control = CanaryController(
        lambda: engine, FileLeadership(tmp_path / "lock"), settle_s=-5.0, late_every_s=0.0
    )
    asyncio.run(control.tick())
    seed(engine, rng, "candidate", 50, at=early + timedelta(milliseconds=1))  # started first, written now
    time.sleep(0.01)
    asyncio.run(control.tick())
    row = get_canary(engine, "chat-model")
    assert row is not None and row.last_evaluation["candidate_requests"] == 50


class FakeEvalRunner:
    def __init__(self, verdict: str) -> None:
        self.verdict = verdict
        self.calls: list[tuple[str, str, str]] = []

    async def run(self, suite_path: str, model: str, arm: str) -> GateResult:
        self.calls.append((suite_path, model, arm))
        return GateResult("eval", self.verdict, 0.0, None, None, 0.05, 10, 10, 0.95, "fake")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("verdict", "outcome"), [("pass", (50.0, "running")), ("fail", (0.0, "rolled_back"))]
)
def test_the_eval_gate_runs_before_a_promotion(
    engine: Engine, tmp_path: Path, verdict: str, outcome: tuple[float, str]
) -> None:
    suite = tmp_path / "qa.yaml"
    suite.write_text("name: qa\n")
    actions = CanaryActions(engine, Catalog.of(CONFIG, base_dir=tmp_path), actor="test", source="api")
    actions.start(
        model="chat-model", candidate="chat-model-v2", steps="10,50,100", gates="errors,eval:qa.yaml"
    )
    runner = FakeEvalRunner(verdict)
    control = controller(engine, tmp_path / "lock", eval_runner=runner)
    seed(engine, random.Random(5), "candidate", 2000)
    seed(engine, random.Random(6), "stable", 2000)
    time.sleep(0.01)

    async def body() -> None:
        await control.tick()  # the live gates pass: the suite starts, the canary holds
        row = get_canary(engine, "chat-model")
        assert row is not None and row.percent == 10.0
        assert "eval gate" in row.last_evaluation["decision"]["reason"]
        for _ in range(100):
            await asyncio.sleep(0.01)
            if runner.calls:
                break
        await asyncio.sleep(0.05)
        await control.tick()
        await control.stop()

    asyncio.run(body())
    assert runner.calls == [(str(suite), "chat-model", "candidate")]
    row = get_canary(engine, "chat-model")
    assert row is not None and (row.percent, row.status) == outcome


def test_config_canaries_are_created_once(engine: Engine, tmp_path: Path) -> None:
    settings = CanarySettings.model_validate({"model": "chat-model", "candidate": "chat-model-v2"})
    asyncio.run(controller(engine, tmp_path / "lock", canaries=[settings]).tick())
    asyncio.run(controller(engine, tmp_path / "lock", canaries=[settings]).tick())  # a restart
    row = get_canary(engine, "chat-model")
    assert row is not None and (row.source, row.percent) == ("config", 1.0) and row.config_hash
    assert [e["action"] for e in canary_events(engine, "chat-model")][:1] == ["start"]
    assert len(canary_events(engine, "chat-model", actions=["start"])) == 1


def test_only_the_lock_holder_acts(engine: Engine, tmp_path: Path) -> None:
    start(engine)
    one, two = controller(engine, tmp_path / "lock"), controller(engine, tmp_path / "lock")

    async def body() -> None:
        await one.tick()
        await two.tick()
        assert (one.leading, two.leading) == (True, False)
        await one.stop()  # the lock is released: the other takes over at its next tick
        await two.tick()
        assert two.leading
        await two.stop()

    asyncio.run(body())


def test_two_controllers_on_one_redis_elect_one_leader(engine: Engine, redis_url: str) -> None:
    start(engine)
    key = f"llmgate:canary:leader:test-{uuid.uuid4().hex}"

    def make() -> CanaryController:
        return CanaryController(lambda: engine, RedisLeadership(redis_url, ttl_s=5.0, key=key), settle_s=0.0)

    async def body() -> None:
        one, two = make(), make()
        for _ in range(3):
            await asyncio.gather(one.tick(), two.tick())
            assert one.leading != two.leading
        leader, other = (one, two) if one.leading else (two, one)
        evaluated = len(canary_events(engine, "chat-model", actions=["evaluate"]))
        await other.tick()  # the follower's tick writes nothing
        assert len(canary_events(engine, "chat-model", actions=["evaluate"])) == evaluated
        await leader.stop()  # released: the other leads at once
        await other.tick()
        assert other.leading
        await other.stop()

    asyncio.run(body())
