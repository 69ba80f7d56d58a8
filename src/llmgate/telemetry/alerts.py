"""Alerts: the record, the sinks it goes to, and ``raise_alert``; one place for every source.

Scheduled evals (``evals/scheduler.py``) and the live monitors raise alerts the same way: an
``Alert`` is stored in the ``alerts`` table (so the CLI and the dashboard can list them) and sent to
every configured sink (``llmgate.alerts`` in the config):

- ``WebhookSink``: POSTs the alert as JSON (``{"source", "kind", "severity", "title", "details",
  "at"}``) with httpx; a connection error, a timeout, a 429 or a 5xx is retried once; any other
  failure is logged on ``llmgate.alerts`` and never raised. Headers (which may carry a token) are
  never logged.
- ``LogSink``: one structured line per alert, a JSON object, on the ``llmgate.alerts`` logger.

Raising an alert never fails its caller: a store that is down or a sink that breaks is logged and
the other sinks still get the alert. ``raise_alert`` is for the event loop (the store write runs
in a thread, the sinks concurrently); ``raise_alert_sync`` is for worker threads and scripts.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy import Engine

    from llmgate.config.schema import AlertSettings

log = logging.getLogger("llmgate.alerts")

#: Severities the ``alerts`` table and the sinks use.
SEVERITIES = ("info", "warning", "critical")
#: Statuses worth one more try: the receiver may be restarting or briefly overloaded.
_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass
class Alert:
    """One alert: who raised it (``source``: eval | drift | rag_quality | monitor, the monitor
    worker's own health), what it is (``kind``, e.g. ``eval.regression``), how bad
    (``severity``: info | warning | critical), a one-line ``title`` for people, and
    JSON-serialisable ``details`` for machines."""

    source: str
    kind: str
    severity: str
    title: str
    details: dict[str, Any] = field(default_factory=dict)
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}, got {self.severity!r}")

    def to_json(self) -> dict[str, Any]:
        """The payload sinks send: plain JSON types only (anything else becomes its ``str``)."""
        payload = {
            "source": self.source,
            "kind": self.kind,
            "severity": self.severity,
            "title": self.title,
            "details": self.details,
            "at": self.at.isoformat(),
        }
        result: dict[str, Any] = json.loads(json.dumps(payload, default=str))
        return result


class Sink(Protocol):
    """Somewhere alerts go. Implementations log their own failures and never raise."""

    async def send(self, alert: Alert) -> None: ...

    def send_sync(self, alert: Alert) -> None: ...


class LogSink:
    """One JSON line per alert on the ``llmgate.alerts`` logger (warning level, or error for
    critical alerts), for log pipelines to pick up."""

    def send_sync(self, alert: Alert) -> None:
        level = logging.ERROR if alert.severity == "critical" else logging.WARNING
        log.log(level, "%s", json.dumps({"alert": alert.to_json()}, sort_keys=True))

    async def send(self, alert: Alert) -> None:
        self.send_sync(alert)


class WebhookSink:
    """POST each alert as JSON to ``url``; retried once; failures logged, never raised."""

    def __init__(
        self,
        url: str,
        headers: dict[str, str] | None = None,
        timeout: float = 5.0,
        *,
        retry_delay_s: float = 0.5,
    ) -> None:
        self.url = url
        self.headers = {"Content-Type": "application/json", **(headers or {})}
        self.timeout = timeout
        self.retry_delay_s = retry_delay_s

    def _body(self, alert: Alert) -> bytes:
        return json.dumps(alert.to_json()).encode()

    def _failed(self, alert: Alert, problem: str) -> None:
        log.warning("alert webhook %s failed, alert %r not delivered: %s", self.url, alert.kind, problem)

    async def send(self, alert: Alert) -> None:
        # httpx: only when a webhook alert is sent, off the gateway process otherwise
        import httpx

        body = self._body(alert)
        problem = ""
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                for attempt in range(2):
                    if attempt:
                        await asyncio.sleep(self.retry_delay_s)
                    try:
                        response = await client.post(self.url, content=body, headers=self.headers)
                    except httpx.TransportError as exc:
                        problem = _describe(exc)
                        continue
                    if response.is_success:
                        return
                    problem = f"HTTP {response.status_code}"
                    if response.status_code not in _RETRY_STATUSES:
                        break
        except Exception as exc:  # never let a sink break the caller
            problem = _describe(exc)
        self._failed(alert, problem)

    def send_sync(self, alert: Alert) -> None:
        # httpx: only when a webhook alert is sent, off the gateway process otherwise
        import httpx

        body = self._body(alert)
        problem = ""
        try:
            with httpx.Client(timeout=self.timeout) as client:
                for attempt in range(2):
                    if attempt:
                        time.sleep(self.retry_delay_s)
                    try:
                        response = client.post(self.url, content=body, headers=self.headers)
                    except httpx.TransportError as exc:
                        problem = _describe(exc)
                        continue
                    if response.is_success:
                        return
                    problem = f"HTTP {response.status_code}"
                    if response.status_code not in _RETRY_STATUSES:
                        break
        except Exception as exc:
            problem = _describe(exc)
        self._failed(alert, problem)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


def sinks_from_config(settings: AlertSettings) -> list[Sink]:
    """The sinks ``llmgate.alerts`` configures: the log line (unless ``log: false``) and each webhook."""
    sinks: list[Sink] = [LogSink()] if settings.log else []
    for hook in settings.webhooks:
        headers = {k: v for k, v in (hook.headers or {}).items() if v is not None}
        sinks.append(WebhookSink(hook.url, headers, hook.timeout))
    return sinks


def store_alert(
    engine: Engine,
    alert: Alert,
    *,
    first_affected_at: datetime | None = None,
    resolved_at: datetime | None = None,
) -> int | None:
    """Insert ``alert`` into the ``alerts`` table; returns its id. ``first_affected_at``: the first
    record its condition affected, when known; ``resolved_at``: when it was resolved, when that is
    known as it is raised (a canary's rollback is its own resolution)."""
    # SQLAlchemy (the store): off processes that only send alerts to webhooks
    from llmgate.store.alerts import insert_alert, resolve_alert

    alert_id = insert_alert(
        engine,
        at=alert.at,
        source=alert.source,
        kind=alert.kind,
        severity=alert.severity,
        title=alert.title,
        details=alert.details,
        first_affected_at=first_affected_at,
    )
    if alert_id is not None and resolved_at is not None:
        resolve_alert(engine, alert_id, resolved_at)
    return alert_id


def _store_or_log(engine: Engine | None, alert: Alert) -> int | None:
    if engine is None:
        return None
    try:
        return store_alert(engine, alert)
    except Exception as exc:  # the store may be down: the sinks still get the alert
        from llmgate.store.db import describe_error

        log.warning("could not store alert %r: %s", alert.kind, describe_error(exc))
        return None


async def _send_guarded(sink: Sink, alert: Alert) -> None:
    try:
        await sink.send(alert)
    except Exception:  # a sink that breaks its promise still must not stop the others
        log.exception("alert sink %s failed", type(sink).__name__)


async def raise_alert(alert: Alert, *, engine: Engine | None, sinks: Sequence[Sink]) -> int | None:
    """Store ``alert`` (in a thread, when ``engine`` is given) and send it to every sink at once.

    Never raises for a store or sink failure; returns the stored alert's id, or None."""
    alert_id = await asyncio.to_thread(_store_or_log, engine, alert) if engine is not None else None
    await asyncio.gather(*(_send_guarded(sink, alert) for sink in sinks))
    return alert_id


def raise_alert_sync(alert: Alert, *, engine: Engine | None, sinks: Sequence[Sink]) -> int | None:
    """``raise_alert`` for threads and scripts: store, then send to each sink in turn."""
    alert_id = _store_or_log(engine, alert)
    for sink in sinks:
        try:
            sink.send_sync(alert)
        except Exception:
            log.exception("alert sink %s failed", type(sink).__name__)
    return alert_id
