"""The monitor worker's health in ``GET /health/readiness``, when ``llmgate.monitors.enabled``.

Readiness answers whether the gateway can serve, and a failing monitor does not stop it: the
payload gains ``monitor`` (status, last success, failures in a row, lag, last error, as
``llmgate drift status`` shows them) and, unless that status is ``ok`` or ``not started``,
``degraded: ["monitor"]``; the status code stays what the store and recorder decide.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmgate.server.app import AppState

__all__ = ["monitor_readiness"]

_SHOWN = ("status", "last_success_at", "consecutive_failures", "lag_s", "last_error")


def _read(state: AppState) -> dict[str, Any]:
    # Imported here, in a worker thread: the gateway itself does not need SQLAlchemy or the store
    # (see server/app.py), and importing them must not hold up the event loop.
    from llmgate.monitors.health import describe, health_summary

    try:
        health = health_summary(state.engine, state.config.llmgate.monitors, datetime.now(UTC))
    except Exception as exc:  # the store is down, or has no monitor tables yet
        return {"status": "unknown", "detail": describe(exc)}
    return {name: health[name] for name in _SHOWN}


async def monitor_readiness(state: AppState, timeout_s: float) -> dict[str, Any]:
    """``{"monitor": {...}}``, plus ``"degraded": ["monitor"]`` when it is not healthy."""
    try:
        monitor = await asyncio.wait_for(asyncio.to_thread(_read, state), timeout_s)
    except TimeoutError:
        monitor = {"status": "unknown", "detail": "the store did not answer in time"}
    except Exception as exc:  # e.g. the store's driver failed to import
        monitor = {"status": "unknown", "detail": type(exc).__name__}
    payload: dict[str, Any] = {"monitor": monitor}
    if monitor["status"] not in ("ok", "not started"):
        payload["degraded"] = ["monitor"]
    return payload
