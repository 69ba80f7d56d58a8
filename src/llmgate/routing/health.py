"""Per-deployment health: circuit breaker, recent errors and latency, requests in flight.

A deployment is *closed* (used normally) until ``allowed_fails`` failures fall within
``window_s``; then it is *open* (cooling down: skipped, not tried) for ``cooldown_time`` seconds,
or for the upstream's ``Retry-After`` after a 429. When the cooldown ends it is *half-open*: one
request may probe it; success closes it, failure opens it again. Only failures that say the
deployment is unwell count (see ``policy.py``); the caller's own errors do not.

Everything here is in-process and synchronous (called from the event loop, no I/O). With
``redis_url`` set, ``routing/shared.py`` mirrors cooldowns and in-flight counts through Redis in
the background, so several gateway processes agree without a Redis round trip on the request path.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

#: how far back the error rate and latency on /health/deployments look
RECENT_S = 60.0
#: a 429's Retry-After is honoured up to this long
MAX_RETRY_AFTER_S = 300.0


@dataclass(slots=True)
class _State:
    failures: deque[float] = field(default_factory=deque)  # times of counted failures in the window
    open_until: float = 0.0
    tripped: bool = False  # opened since the last success: half-open once the cooldown ends
    probing: bool = False  # a half-open probe is in flight
    in_flight: int = 0
    remote_in_flight: int = 0  # other processes' requests in flight (from Redis)
    latency_ewma_ms: float | None = None
    outcomes: deque[tuple[float, bool, float]] = field(default_factory=lambda: deque(maxlen=500))
    last_error: str | None = None


class Health:
    def __init__(
        self,
        deployment_ids: Iterable[str],
        *,
        allowed_fails: int = 3,
        cooldown_time: float = 5.0,
        window_s: float = 60.0,
        enabled: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._states = {d: _State() for d in deployment_ids}
        self.allowed_fails = max(1, allowed_fails)
        self.cooldown_time = cooldown_time
        self.window_s = window_s
        self.enabled = enabled
        self.clock = clock
        #: called with (deployment id, cooldown seconds) when this process opens a circuit
        self.on_trip: Callable[[str, float], None] | None = None
        #: called with (deployment id) for every counted failure
        self.on_failure: Callable[[str], None] | None = None

    def track(self, deployment_id: str) -> None:
        """Keep the health of a deployment made after start-up (a wildcard group's, for one name)."""
        if deployment_id not in self._states:
            self._states[deployment_id] = _State()

    # --- what routing asks ----------------------------------------------------------------

    def available(self, deployment_id: str) -> bool:
        """Closed, or half-open with no probe in flight."""
        state = self._states[deployment_id]
        if not self.enabled:
            return True
        if state.open_until > self.clock():
            return False
        return not (state.tripped and state.probing)

    def cooldown_left(self, deployment_id: str) -> float:
        return max(0.0, self._states[deployment_id].open_until - self.clock())

    def in_flight(self, deployment_id: str) -> int:
        state = self._states[deployment_id]
        return state.in_flight + state.remote_in_flight

    def latency_ms(self, deployment_id: str) -> float | None:
        return self._states[deployment_id].latency_ewma_ms

    # --- what the gateway reports ---------------------------------------------------------

    def begin(self, deployment_id: str) -> None:
        """An attempt on the deployment starts (it may be the half-open probe)."""
        state = self._states[deployment_id]
        state.in_flight += 1
        if state.tripped and state.open_until <= self.clock():
            state.probing = True

    def success(self, deployment_id: str, latency_ms: float) -> None:
        state = self._states[deployment_id]
        state.in_flight -= 1
        state.outcomes.append((self.clock(), True, latency_ms))
        ewma = state.latency_ewma_ms
        state.latency_ewma_ms = latency_ms if ewma is None else 0.8 * ewma + 0.2 * latency_ms
        if state.tripped:
            state.tripped = state.probing = False
            state.failures.clear()

    def failure(
        self, deployment_id: str, error: str, *, counts: bool, retry_after: float | None = None
    ) -> None:
        state = self._states[deployment_id]
        state.in_flight -= 1
        now = self.clock()
        state.outcomes.append((now, False, 0.0))
        state.last_error = error
        if not counts:
            if state.probing:  # the probe proved nothing either way: let another one go
                state.probing = False
            return
        if self.on_failure is not None:
            self.on_failure(deployment_id)
        if retry_after is not None and retry_after > 0:
            self.open(deployment_id, min(retry_after, MAX_RETRY_AFTER_S))
            return
        if state.tripped and state.probing:  # the half-open probe failed
            self.open(deployment_id, self.cooldown_time)
            return
        state.failures.append(now)
        while state.failures and state.failures[0] <= now - self.window_s:
            state.failures.popleft()
        if len(state.failures) >= self.allowed_fails:
            self.open(deployment_id, self.cooldown_time)

    def release(self, deployment_id: str) -> None:
        """An attempt ended without an answer either way (the client went away)."""
        state = self._states[deployment_id]
        state.in_flight -= 1
        state.probing = False

    def end_stream(self, deployment_id: str, *, ok: bool, error: str | None = None) -> None:
        """A stream that had answered ended: a break after its first byte counts as a failure."""
        if ok:
            return
        self._states[deployment_id].in_flight += 1  # failure() releases it again
        self.failure(deployment_id, error or "stream_interrupted", counts=True)

    def open(self, deployment_id: str, seconds: float, *, local_only: bool = False) -> None:
        """Cool the deployment down for ``seconds`` (never shortening a cooldown already running)."""
        if not self.enabled or seconds <= 0:
            return
        state = self._states[deployment_id]
        until = self.clock() + seconds
        if until > state.open_until:
            state.open_until = until
        state.tripped = True
        state.probing = False
        state.failures.clear()
        if not local_only and self.on_trip is not None:
            self.on_trip(deployment_id, seconds)

    def set_remote_in_flight(self, deployment_id: str, count: int) -> None:
        if deployment_id in self._states:
            self._states[deployment_id].remote_in_flight = max(0, count)

    def local_in_flight(self) -> dict[str, int]:
        return {d: s.in_flight for d, s in self._states.items()}

    # --- /health/deployments --------------------------------------------------------------

    def circuit(self, deployment_id: str) -> str:
        state = self._states[deployment_id]
        if not self.enabled or not state.tripped:
            return "closed"
        return "open" if state.open_until > self.clock() else "half_open"

    def snapshot(self, deployment_id: str) -> dict[str, Any]:
        state = self._states[deployment_id]
        since = self.clock() - RECENT_S
        recent = [o for o in state.outcomes if o[0] >= since]
        errors = sum(1 for o in recent if not o[1])
        latencies = sorted(o[2] for o in recent if o[1])
        return {
            "circuit": self.circuit(deployment_id),
            "cooldown_remaining_s": round(self.cooldown_left(deployment_id), 3),
            "recent_requests": len(recent),
            "recent_errors": errors,
            "error_rate": round(errors / len(recent), 4) if recent else 0.0,
            "latency_p50_ms": round(latencies[len(latencies) // 2], 3) if latencies else None,
            "latency_ewma_ms": round(state.latency_ewma_ms, 3) if state.latency_ewma_ms is not None else None,
            "in_flight": state.in_flight + state.remote_in_flight,
            "failures_in_window": len(state.failures),
            "last_error": state.last_error,
        }
