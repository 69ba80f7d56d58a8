"""The eval scheduler: runs fire on a (per-second) cron, a run still going is not started twice,
regressions and failures become alerts on a real loopback webhook and in the alerts table, one
process of several runs the schedules, and ``llmgate serve`` runs them against itself."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from aiohttp import web
from sqlalchemy import Engine

import llmgate.evals.scheduler as scheduler_module
from llmgate.config.schema import EvalSchedule
from llmgate.evals.regression import Comparison
from llmgate.evals.scheduler import EvalScheduler, local_base_url
from llmgate.store.db import create_engine_for
from llmgate.store.migrate import upgrade
from llmgate.telemetry.alerts import LogSink, WebhookSink
from support.configs import MASTER_KEY
from support.gateway import RunningGateway
from support.migrated import copy_migrated

EVERY_SECOND = "* * * * * *"


@dataclass
class Summary:
    run_id: str
    suite: str
    model: str
    passed: int
    failed: int
    errors: int
    comparison: Comparison | None = None
    baseline_run_id: str | None = None


REGRESSED = Comparison(
    regression=True,
    p_value=0.03125,
    effect=-0.3,
    method="mcnemar",
    flipped_to_fail=["q3", "q7"],
    flipped_to_pass=[],
    flaky=["q9"],
    baseline_pass_rate=1.0,
    current_pass_rate=0.7,
    compared=20,
)


@dataclass
class FakeRun:
    """Stands in for ``run_suite_file``: records its calls, stores an ``eval_runs`` row as the real
    runner does, and can block until released or fail."""

    result: Callable[[int], list[Summary]] = lambda n: [Summary(f"run-{n}", "rag", "mock-echo", 3, 0, 0)]
    block: threading.Event | None = None
    error: Exception | None = None
    calls: list[dict[str, Any]] = field(default_factory=list)
    started: threading.Event = field(default_factory=threading.Event)

    def __call__(self, path: str, **kwargs: Any) -> list[Summary]:
        self.calls.append({"path": path, **kwargs})
        self.started.set()
        if self.block is not None:
            self.block.wait(10)
        if self.error is not None:
            raise self.error
        summaries = self.result(len(self.calls))
        engine: Engine | None = kwargs["engine"]
        if engine is not None:
            with engine.begin() as conn:
                for s in summaries:
                    conn.execute(
                        sa.text(
                            "INSERT INTO eval_runs (id, suite, suite_hash, model, trigger, status, started_at,"
                            " cases, passed, failed, errors, repeat) VALUES (:id, :suite, 'h', :model,"
                            " :trigger, 'passed', :at, 3, :passed, :failed, :errors, :repeat)"
                        ),
                        {
                            "id": s.run_id,
                            "suite": s.suite,
                            "model": s.model,
                            "trigger": kwargs["trigger"],
                            "at": datetime.now(UTC).isoformat(),
                            "passed": s.passed,
                            "failed": s.failed,
                            "errors": s.errors,
                            "repeat": kwargs["repeat"],
                        },
                    )
        return summaries


class Receiver:
    """A webhook receiver on loopback (aiohttp, on the test's loop)."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _handle(self, request: web.Request) -> web.Response:
        self.received.append(await request.json())
        return web.json_response({"ok": True})

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/hook"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    server = await Receiver().start()
    yield server
    await server.stop()


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    copy_migrated(f"sqlite:///{tmp_path / 'store.db'}")  # migrated once per session (support/migrated.py)
    engine = create_engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)  # a no-op at head
    yield engine
    engine.dispose()


def schedule(tmp_path: Path, **kwargs: Any) -> EvalSchedule:
    suite = tmp_path / "rag.yaml"
    suite.write_text("name: rag\n")
    return EvalSchedule.model_validate({"name": "rag", "cron": EVERY_SECOND, "suite": str(suite), **kwargs})


def make(
    schedules: list[EvalSchedule], run: FakeRun, engine: Engine | None = None, **kwargs: Any
) -> EvalScheduler:
    return EvalScheduler(
        schedules,
        run=run,
        base_url="http://127.0.0.1:4000/v1",
        api_key="sk-key",
        engine_factory=(lambda: engine) if engine is not None else None,
        **kwargs,
    )


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def alerts(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT source, kind, severity, title, details_json FROM alerts ORDER BY id")
        )
        return [{**row._mapping, "details": json.loads(row.details_json)} for row in rows]


async def test_a_scheduled_run_fires_and_its_result_is_stored(tmp_path: Path, engine: Engine) -> None:
    run = FakeRun()
    sched = make([schedule(tmp_path, models=["mock-echo"], repeat=2, concurrency=3)], run, engine)
    sched.start()
    try:
        await until(lambda: sched.jobs[0].fired >= 1 and not sched.jobs[0].running, timeout=3)
    finally:
        await sched.stop()
    call = run.calls[0]
    assert call["path"] == str(tmp_path / "rag.yaml")
    assert call["models"] == ["mock-echo"]
    assert call["base_url"] == "http://127.0.0.1:4000/v1"
    assert call["api_key"] == "sk-key"
    assert call["engine"] is engine
    assert (call["repeat"], call["concurrency"], call["tags"], call["trigger"]) == (2, 3, None, "schedule")
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT id, trigger, repeat FROM eval_runs")).one()
    assert tuple(row) == ("run-1", "schedule", 2)
    assert alerts(engine) == []


async def test_a_fire_while_the_run_is_going_is_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    release = threading.Event()
    run = FakeRun(block=release)
    sched = make([schedule(tmp_path)], run)
    job = sched.jobs[0]
    with caplog.at_level(logging.WARNING, logger="llmgate.evals.scheduler"):
        sched.start()
        try:
            await until(lambda: job.skipped >= 1, timeout=4)
            assert len(run.calls) == 1
            assert job.running
            release.set()
            await until(lambda: len(run.calls) >= 2, timeout=3)  # the next fire after it ended runs
        finally:
            release.set()
            await sched.stop()
    assert "previous run still going" in caplog.text


async def test_fire_refuses_a_second_run_at_once(tmp_path: Path) -> None:
    release = threading.Event()
    run = FakeRun(block=release)
    sched = make([schedule(tmp_path, cron="0 0 1 1 *")], run)
    job = sched.jobs[0]
    assert sched.fire(job)
    await asyncio.to_thread(run.started.wait, 5)
    assert not sched.fire(job)
    assert job.skipped == 1
    release.set()
    await until(lambda: not job.running)
    assert sched.fire(job)
    await until(lambda: not job.running)
    assert len(run.calls) == 2
    await sched.stop()


async def test_a_regression_alert_reaches_the_webhook_and_the_table(
    tmp_path: Path, engine: Engine, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    run = FakeRun(result=lambda n: [Summary("run-7", "rag", "mock-echo", 14, 6, 0, REGRESSED, "run-1")])
    sinks = [LogSink(), WebhookSink(receiver.url)]
    sched = make([schedule(tmp_path)], run, engine, sinks=sinks)
    with caplog.at_level(logging.WARNING, logger="llmgate.alerts"):
        sched.start()
        try:
            await until(lambda: len(receiver.received) >= 1, timeout=4)
        finally:
            await sched.stop()
    body = receiver.received[0]
    assert (body["source"], body["kind"], body["severity"]) == ("eval", "eval.regression", "warning")
    assert "rag on mock-echo" in body["title"]
    assert "100% -> 70%" in body["title"]
    details = body["details"]
    assert details["suite"] == "rag"
    assert details["model"] == "mock-echo"
    assert details["run_id"] == "run-7"
    assert details["baseline_run_id"] == "run-1"
    assert details["p_value"] == 0.03125
    assert details["effect"] == -0.3
    assert details["flipped_to_fail"] == ["q3", "q7"]
    assert details["flaky"] == ["q9"]
    [stored] = alerts(engine)[:1]
    assert stored["kind"] == "eval.regression"
    assert stored["details"]["run_id"] == "run-7"
    assert '"kind": "eval.regression"' in caplog.text  # the log sink's JSON line


async def test_no_alert_when_alert_on_regression_is_off(tmp_path: Path, engine: Engine) -> None:
    run = FakeRun(result=lambda n: [Summary("run-7", "rag", "mock-echo", 14, 6, 0, REGRESSED)])
    sched = make([schedule(tmp_path, alert_on_regression=False)], run, engine)
    job = sched.jobs[0]
    assert sched.fire(job)
    await until(lambda: not job.running)
    await sched.stop()
    assert alerts(engine) == []


async def test_a_run_that_fails_raises_an_error_alert(
    tmp_path: Path, engine: Engine, receiver: Receiver
) -> None:
    run = FakeRun(error=RuntimeError("gateway unreachable at http://127.0.0.1:4000/v1"))
    sched = make([schedule(tmp_path)], run, engine, sinks=[WebhookSink(receiver.url)])
    job = sched.jobs[0]
    assert sched.fire(job)
    await until(lambda: not job.running)
    await sched.stop()
    [stored] = alerts(engine)
    assert stored["kind"] == "eval.error"
    assert "gateway unreachable" in stored["title"]
    assert stored["details"]["schedule"] == "rag"
    assert receiver.received[0]["kind"] == "eval.error"


async def test_cases_that_errored_raise_an_error_alert(tmp_path: Path, engine: Engine) -> None:
    run = FakeRun(result=lambda n: [Summary("run-3", "rag", "mock-echo", 1, 0, 2)])
    sched = make([schedule(tmp_path)], run, engine)
    job = sched.jobs[0]
    sched.fire(job)
    await until(lambda: not job.running)
    await sched.stop()
    [stored] = alerts(engine)
    assert stored["kind"] == "eval.error"
    assert stored["details"]["errors"] == 2
    assert stored["details"]["run_id"] == "run-3"


async def test_only_the_lock_holder_runs_schedules(tmp_path: Path) -> None:
    lock = tmp_path / "spill" / "eval-scheduler.lock"
    first_run, second_run = FakeRun(), FakeRun()
    first = make([schedule(tmp_path)], first_run, lock_path=lock, lock_retry_s=0.05)
    second = make([schedule(tmp_path)], second_run, lock_path=lock, lock_retry_s=0.05)
    first.start()
    second.start()
    try:
        assert first.active
        assert not second.active
        await until(lambda: len(first_run.calls) >= 1, timeout=3)
        assert second_run.calls == []
        await first.stop()  # the holder goes away: the other takes over
        await until(lambda: second.active, timeout=2)
        await until(lambda: len(second_run.calls) >= 1, timeout=3)
    finally:
        await first.stop()
        await second.stop()


async def test_stop_abandons_a_run_that_outlasts_the_grace(tmp_path: Path, engine: Engine) -> None:
    release = threading.Event()
    run = FakeRun(block=release, result=lambda n: [Summary("r", "rag", "m", 0, 3, 0, REGRESSED)])
    sched = make([schedule(tmp_path)], run, engine, grace_s=0.1)
    sched.fire(sched.jobs[0])
    await asyncio.to_thread(run.started.wait, 5)
    started = time.monotonic()
    await sched.stop()
    assert time.monotonic() - started < 2
    release.set()
    await asyncio.sleep(0.1)
    assert alerts(engine) == []  # a run abandoned at shutdown raises nothing


def test_next_fire_is_in_the_configured_time_zone(tmp_path: Path) -> None:
    sched = make([schedule(tmp_path, cron="0 9 * * *")], FakeRun(), time_zone="Europe/Berlin")
    after = datetime(2026, 1, 15, 7, 59, tzinfo=UTC)  # 08:59 in Berlin (CET, UTC+1)
    assert sched.next_fire(sched.jobs[0], after) == datetime(2026, 1, 15, 8, 0, tzinfo=UTC)
    july = datetime(2026, 7, 15, 7, 30, tzinfo=UTC)  # 09:30 in Berlin (CEST): tomorrow 07:00 UTC
    assert sched.next_fire(sched.jobs[0], july) == datetime(2026, 7, 16, 7, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:4000/v1"),
        ("0.0.0.0", "http://127.0.0.1:4000/v1"),
        ("10.1.2.3", "http://10.1.2.3:4000/v1"),
        ("::1", "http://[::1]:4000/v1"),
    ],
)
def test_local_base_url(host: str, url: str) -> None:
    assert local_base_url(host, 4000) == url


def test_serve_runs_the_schedules_against_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``llmgate serve`` with ``eval_schedules``: the scheduler starts with the gateway, calls the
    gateway's own URL with the master key, and stops with it."""
    answers: list[int] = []
    got = threading.Event()

    def run(path: str, **kwargs: Any) -> list[Summary]:
        response = httpx.post(
            kwargs["base_url"] + "/chat/completions",
            headers={"Authorization": f"Bearer {kwargs['api_key']}"},
            json={"model": "mock-echo", "messages": [{"role": "user", "content": "hi"}]},
            timeout=10,
        )
        answers.append(response.status_code)
        got.set()
        return [Summary("run-1", "rag", "mock-echo", 1, 0, 0)]

    monkeypatch.setattr(scheduler_module, "default_run", run)
    (tmp_path / "rag.yaml").write_text("name: rag\n")
    config = {
        "model_list": [{"model_name": "mock-echo", "litellm_params": {"model": "mock/echo"}}],
        "general_settings": {"master_key": MASTER_KEY},
        "llmgate": {
            "database_url": f"sqlite:///{tmp_path / 'store.db'}",
            "recorder": {"process": False},
            "eval_schedules": [{"cron": EVERY_SECOND, "suite": "rag.yaml"}],
        },
    }
    gateway = RunningGateway(config, tmp_path).start()
    try:
        assert got.wait(5)
        scheduler = gateway.state.scheduler
        assert scheduler is not None and scheduler.active
        assert scheduler.base_url == f"http://127.0.0.1:{gateway.port}/v1"
        assert scheduler.jobs[0].schedule.suite == str(tmp_path / "rag.yaml")
        assert (tmp_path / ".llmgate-spill" / "eval-scheduler.lock").exists()
    finally:
        gateway.stop()
    assert answers[0] == 200  # the master key was accepted
    assert not scheduler.active


def test_scheduler_command_needs_schedules(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from llmgate.cli.main import app

    path = tmp_path / "config.yaml"
    path.write_text("model_list: []\n")
    result = CliRunner().invoke(app, ["scheduler", "--config", str(path)])
    assert result.exit_code == 2
    assert "no llmgate.eval_schedules to run" in result.output


def test_scheduler_command_runs_schedules_until_terminated(tmp_path: Path) -> None:
    """``llmgate scheduler`` as its own process: it fires the schedule, stores the outcome (a run,
    or an ``eval.error`` alert when the run cannot be made) and exits cleanly on SIGTERM."""
    import signal
    import subprocess
    import sys

    (tmp_path / "rag.yaml").write_text("name: rag\n")
    path = tmp_path / "config.yaml"
    path.write_text(
        "model_list: [{model_name: mock-echo, litellm_params: {model: mock/echo}}]\n"
        "llmgate:\n"
        "  database_url: sqlite:///store.db\n"
        f"  eval_schedules: [{{cron: '{EVERY_SECOND}', suite: rag.yaml}}]\n"
    )
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llmgate.cli.main",
            "scheduler",
            "--config",
            str(path),
            "--base-url",
            "http://127.0.0.1:9/v1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    engine = create_engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        deadline = time.monotonic() + 20
        outcomes = 0
        while time.monotonic() < deadline and not outcomes and child.poll() is None:
            time.sleep(0.2)
            try:
                with engine.connect() as conn:
                    outcomes = conn.execute(
                        sa.text(
                            "SELECT (SELECT count(*) FROM eval_runs WHERE trigger = 'schedule')"
                            " + (SELECT count(*) FROM alerts WHERE kind = 'eval.error')"
                        )
                    ).scalar_one()
            except sa.exc.OperationalError:  # not migrated yet
                continue
        assert outcomes >= 1
        child.send_signal(signal.SIGTERM)
        output, _ = child.communicate(timeout=15)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
        engine.dispose()
    assert child.returncode == 0, output
    assert "1 schedule(s) against http://127.0.0.1:9/v1" in output


def suite_text(expect: str) -> str:
    cases = "\n".join(
        f"  - id: q{i}\n    vars: {{question: 'say {word}'}}\n    assert: [{{type: contains, value: '{expect or word}'}}]"
        for i, word in enumerate(["apple", "pear", "plum", "fig", "kiwi", "lime"])
    )
    return f"name: echo-check\nmodels: [mock-echo]\nprompt:\n  user: '{{{{question}}}}'\ncases:\n{cases}\n"


async def test_real_runner_regression_reaches_webhook_and_store(
    tmp_path: Path, engine: Engine, receiver: Receiver
) -> None:
    """The real runner against a gateway on loopback (mock provider): a run fired by hand becomes
    the baseline; the suite's expectations then change so all six cases fail, and the next run,
    fired by the cron, is stored and alerted as a regression (McNemar b=6, c=0: p=0.03125)."""
    pytest.importorskip("llmgate.evals.runner")
    suite = tmp_path / "echo.yaml"
    suite.write_text(suite_text(expect=""))
    config = {
        "model_list": [{"model_name": "mock-echo", "litellm_params": {"model": "mock/echo"}}],
        "llmgate": {"database_url": f"sqlite:///{tmp_path / 'store.db'}", "recorder": {"process": False}},
    }
    gateway = await asyncio.to_thread(lambda: RunningGateway(config, tmp_path).start())
    try:
        sched = EvalScheduler(
            [EvalSchedule(name="echo", cron=EVERY_SECOND, suite=str(suite))],
            base_url=gateway.url + "/v1",
            api_key="sk-any",
            engine_factory=lambda: engine,
            sinks=[WebhookSink(receiver.url)],
        )
        job = sched.jobs[0]
        assert sched.fire(job)
        await until(lambda: not job.running, timeout=30)
        with engine.connect() as conn:
            baseline_id, status = conn.execute(sa.text("SELECT id, status FROM eval_runs")).one()
            conn.execute(
                sa.text("INSERT INTO eval_baselines VALUES ('echo-check', 'mock-echo', :id, :at)"),
                {"id": baseline_id, "at": datetime.now(UTC).isoformat()},
            )
            conn.commit()
        assert status == "passed"
        suite.write_text(suite_text(expect="banana"))
        sched.start()
        try:
            await until(lambda: len(receiver.received) >= 1, timeout=30)
        finally:
            await sched.stop()
    finally:
        await asyncio.to_thread(gateway.stop)
    with engine.connect() as conn:
        runs = conn.execute(sa.text("SELECT id, trigger, status FROM eval_runs ORDER BY started_at")).all()
    assert [(r.trigger, r.status) for r in runs[:2]] == [("schedule", "passed"), ("schedule", "failed")]
    body = receiver.received[0]
    assert body["kind"] == "eval.regression"
    details = body["details"]
    assert details["run_id"] == runs[1].id
    assert details["baseline_run_id"] == baseline_id
    assert details["p_value"] == pytest.approx(0.03125)
    assert details["flipped_to_fail"] == [f"q{i}" for i in range(6)]
    assert details["flips"][0]["case_id"] == "q0"
    assert "apple" in details["flips"][0]["new_output"]
    assert [a["kind"] for a in alerts(engine)][:1] == ["eval.regression"]
