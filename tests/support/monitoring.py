"""Test doubles for the monitor worker's seams: an alert sink that keeps what it is sent, and a
clock the test moves by hand."""

from __future__ import annotations

from datetime import datetime

from llmgate.telemetry.alerts import Alert


class MemorySink:
    """An alert sink: ``alerts`` holds every alert sent, in order."""

    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def send_sync(self, alert: Alert) -> None:
        self.alerts.append(alert)

    async def send(self, alert: Alert) -> None:
        self.alerts.append(alert)


class Clock:
    """``clock()`` is ``clock.now``; the test sets or advances ``now``."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now
