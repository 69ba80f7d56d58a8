"""Alert sinks and ``raise_alert``: a real webhook receiver on loopback, the log line, the alerts
table, and failures that are logged, never raised."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp import web
from sqlalchemy import Engine

from llmgate.config.schema import AlertSettings
from llmgate.store.db import create_engine_for
from llmgate.store.migrate import upgrade
from llmgate.telemetry.alerts import (
    Alert,
    LogSink,
    WebhookSink,
    raise_alert,
    raise_alert_sync,
    sinks_from_config,
)
from support.migrated import copy_migrated


class Receiver:
    """A webhook receiver on loopback that records what it got and can answer errors first."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.statuses: list[int] = []  # answered in order before 200s
        self.got = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _handle(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.json()))
        self.got.set()
        status = self.statuses.pop(0) if self.statuses else 200
        return web.json_response({"ok": status == 200}, status=status)

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/hook"
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


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"  # nothing listens there any more


def make_alert(**details: Any) -> Alert:
    return Alert(
        source="eval",
        kind="eval.regression",
        severity="warning",
        title="eval regression: rag on mock-echo",
        details={"suite": "rag", "p_value": 0.03125, **details},
    )


def stored(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT source, kind, severity, title, details_json FROM alerts"))
        return [dict(row._mapping) for row in rows]


async def test_webhook_posts_the_alert_as_json(receiver: Receiver) -> None:
    sink = WebhookSink(receiver.url, headers={"Authorization": "Bearer hook-token"})
    await sink.send(make_alert(flipped_to_fail=["q1", "q2"]))
    [(headers, body)] = receiver.received
    assert headers["Authorization"] == "Bearer hook-token"
    assert headers["Content-Type"] == "application/json"
    assert body["source"] == "eval"
    assert body["kind"] == "eval.regression"
    assert body["severity"] == "warning"
    assert body["title"] == "eval regression: rag on mock-echo"
    assert body["details"] == {"suite": "rag", "p_value": 0.03125, "flipped_to_fail": ["q1", "q2"]}
    assert body["at"].endswith("+00:00")


async def test_webhook_retries_once_after_a_server_error(receiver: Receiver) -> None:
    receiver.statuses = [503]
    await WebhookSink(receiver.url, retry_delay_s=0).send(make_alert())
    assert len(receiver.received) == 2


async def test_webhook_gives_up_after_two_failures_and_logs(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.statuses = [500, 500]
    with caplog.at_level(logging.WARNING, logger="llmgate.alerts"):
        await WebhookSink(receiver.url, retry_delay_s=0).send(make_alert())
    assert len(receiver.received) == 2
    assert "HTTP 500" in caplog.text


async def test_webhook_does_not_retry_a_client_error(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.statuses = [400]
    with caplog.at_level(logging.WARNING, logger="llmgate.alerts"):
        await WebhookSink(receiver.url, retry_delay_s=0).send(make_alert())
    assert len(receiver.received) == 1
    assert "HTTP 400" in caplog.text


async def test_webhook_down_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    url = closed_port_url()
    sink = WebhookSink(url, headers={"Authorization": "Bearer secret-hook-token"}, retry_delay_s=0)
    with caplog.at_level(logging.WARNING, logger="llmgate.alerts"):
        await sink.send(make_alert())
        await asyncio.to_thread(sink.send_sync, make_alert())
    failures = [r for r in caplog.records if r.name == "llmgate.alerts" and "not delivered" in r.getMessage()]
    assert len(failures) == 2
    assert url in failures[0].getMessage()
    assert "ConnectError" in failures[0].getMessage()
    assert "secret-hook-token" not in caplog.text


async def test_webhook_timeout_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    release = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", slow)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        with caplog.at_level(logging.WARNING, logger="llmgate.alerts"):
            await WebhookSink(url, timeout=0.1, retry_delay_s=0).send(make_alert())
        assert "Timeout" in caplog.text
    finally:
        release.set()
        await runner.cleanup()


def test_log_sink_writes_one_json_line(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="llmgate.alerts"):
        LogSink().send_sync(make_alert(when=Path("/x")))  # not JSON-native: becomes its str
    [record] = [r for r in caplog.records if r.name == "llmgate.alerts"]
    assert record.levelno == logging.WARNING
    assert "\n" not in record.getMessage()
    line = json.loads(record.getMessage())
    assert line["alert"]["kind"] == "eval.regression"
    assert line["alert"]["details"]["when"] == "/x"


def test_critical_alerts_log_at_error(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="llmgate.alerts"):
        LogSink().send_sync(Alert("drift", "drift.mmd", "critical", "drift", {}))
    assert caplog.records[-1].levelno == logging.ERROR


def test_unknown_severity_is_refused() -> None:
    with pytest.raises(ValueError, match="severity"):
        Alert("eval", "eval.regression", "urgent", "x", {})


async def test_raise_alert_stores_and_sends_to_every_sink(
    receiver: Receiver, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    sinks = sinks_from_config(AlertSettings.model_validate({"webhooks": [{"url": receiver.url}]}))
    assert [type(s) for s in sinks] == [LogSink, WebhookSink]
    with caplog.at_level(logging.WARNING, logger="llmgate.alerts"):
        alert_id = await raise_alert(make_alert(run_id="r1"), engine=engine, sinks=sinks)
    assert alert_id == 1
    [row] = stored(engine)
    assert row["source"] == "eval"
    assert row["kind"] == "eval.regression"
    assert json.loads(row["details_json"]) == {"suite": "rag", "p_value": 0.03125, "run_id": "r1"}
    assert receiver.received[0][1]["details"]["run_id"] == "r1"
    assert "eval.regression" in caplog.text


async def test_raise_alert_sync_from_a_thread(receiver: Receiver, engine: Engine) -> None:
    sinks = [WebhookSink(receiver.url)]
    alert_id = await asyncio.to_thread(raise_alert_sync, make_alert(), engine=engine, sinks=sinks)
    assert alert_id == 1
    assert len(stored(engine)) == 1
    assert len(receiver.received) == 1


async def test_store_down_still_reaches_the_sinks(
    receiver: Receiver, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'empty.db'}")  # no migrations: no alerts table
    try:
        with caplog.at_level(logging.WARNING, logger="llmgate.alerts"):
            alert_id = await raise_alert(make_alert(), engine=engine, sinks=[WebhookSink(receiver.url)])
    finally:
        engine.dispose()
    assert alert_id is None
    assert "could not store alert" in caplog.text
    assert len(receiver.received) == 1


async def test_a_broken_sink_does_not_stop_the_others(receiver: Receiver) -> None:
    class Broken:
        async def send(self, alert: Alert) -> None:
            raise RuntimeError("boom")

        def send_sync(self, alert: Alert) -> None:
            raise RuntimeError("boom")

    await raise_alert(make_alert(), engine=None, sinks=[Broken(), WebhookSink(receiver.url)])
    await asyncio.to_thread(
        raise_alert_sync, make_alert(), engine=None, sinks=[Broken(), WebhookSink(receiver.url)]
    )
    assert len(receiver.received) == 2
