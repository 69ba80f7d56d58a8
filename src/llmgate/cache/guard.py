"""A cache backend that fails or is slow never fails, or holds, a request.

``Guard.call`` bounds every backend call with a timeout (``llmgate.cache.lookup_timeout_ms`` for
lookups, a longer one for stores and administration); a call that fails or times out raises
``Skipped``, which the service turns into a bypass. Each failure is counted
(``llmgate_cache_errors_total{backend,op}``) and logged at most once a minute. After
``TRIP_AFTER`` failures in a row the backend is skipped without being asked for ``SKIP_S``
seconds, so a dead or stalled Redis costs the requests nothing while it is down; the first call
after that tries it again.

The in-process backend is never bounded: its calls are dict operations that cannot wait.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from llmgate.protocol.redact import redact_text

__all__ = ["ERRORS_METRIC", "Guard", "Skipped"]

log = logging.getLogger("llmgate.cache")

T = TypeVar("T")

ERRORS_METRIC = "llmgate_cache_errors_total"
LOG_EVERY_S = 60.0
TRIP_AFTER = 3
SKIP_S = 1.0


class Skipped(Exception):
    """The backend was not asked, failed or was too slow: go on without the cache."""


class Guard:
    def __init__(
        self, backend: str, count: Callable[[str, tuple[str, ...]], None] | None, bounded: bool
    ) -> None:
        self._backend = backend
        self._count = count
        self._bounded = bounded
        self._failures = 0  # in a row
        self._skip_until = 0.0
        self._logged_at = -LOG_EVERY_S
        self.errors = 0

    async def call(self, op: str, work: Awaitable[T], timeout_s: float) -> T:
        """``work``'s result, or ``Skipped`` if it fails, takes longer than ``timeout_s``, or the
        backend is being skipped."""
        if not self._bounded:
            try:
                return await work
            except Exception as exc:
                self._failed(op, exc)
                raise Skipped from exc
        if self._skip_until and time.monotonic() < self._skip_until:
            if asyncio.iscoroutine(work):
                work.close()  # never started: no "never awaited" warning
            raise Skipped
        try:
            async with asyncio.timeout(timeout_s):
                result = await work
        except Exception as exc:  # TimeoutError included: the backend was too slow
            self._failed(op, exc)
            raise Skipped from exc
        self._failures, self._skip_until = 0, 0.0
        return result

    def _failed(self, op: str, exc: BaseException) -> None:
        self.errors += 1
        self._failures += 1
        if self._failures >= TRIP_AFTER:
            self._skip_until = time.monotonic() + SKIP_S
        if self._count is not None:
            self._count(ERRORS_METRIC, (self._backend, op))
        now = time.monotonic()
        if now - self._logged_at >= LOG_EVERY_S:
            self._logged_at = now
            reason = (
                "timed out"
                if isinstance(exc, TimeoutError)
                else f"failed ({type(exc).__name__}: {redact_text(str(exc))})"
            )
            log.warning(
                "response cache: %s backend %s on %s; requests go on without the cache "
                "(counted in %s, logged at most once a minute)",
                self._backend,
                reason,
                op,
                ERRORS_METRIC,
            )
