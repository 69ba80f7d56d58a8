"""Requests refused for a missing or wrong API key: counted and logged, never stored one row each.

A flood of unauthenticated requests must not become a flood of rows (anyone who can reach the
gateway could fill its store), so the gateway answers them 401 and tells ``AuthFailures``
instead. Its ``count`` callback adds to ``llmgate_auth_failures_total{reason}`` in the gateway
process (``/metrics`` reads it, and ``--workers`` sums it like the other totals), and a WARNING
sums them up at most once every ``LOG_EVERY_S``. The log names the reasons and, for an ``sk-lg-``
key, its display prefix (the few characters ``llmgate keys list`` shows); never the key, nor any
part of a token that is not a virtual key (it may be a mistyped master key).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable

from llmgate.auth.keys import KEY_PREFIX, display_prefix

log = logging.getLogger("llmgate.auth")

#: at most one summary line per this many seconds, however many requests are refused
LOG_EVERY_S = 10.0


class AuthFailures:
    def __init__(
        self,
        count: Callable[[str], None] | None = None,
        *,
        log_every_s: float = LOG_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._count = count  # reason -> add one to the metric
        self._every = log_every_s
        self._clock = clock
        self._next_log = float("-inf")
        self._pending: Counter[str] = Counter()

    def refused(self, reason: str, token: str | None) -> None:
        """Count one refused request (``reason``: the error code, a small fixed set)."""
        if self._count is not None:
            self._count(reason)
        self._pending[reason] += 1
        now = self._clock()
        if now < self._next_log:
            return
        self._next_log = now + self._every
        counts = ", ".join(f"{name} {n}" for name, n in sorted(self._pending.items()))
        self._pending.clear()
        hint = f"; last key {display_prefix(token)}…" if token and token.startswith(KEY_PREFIX) else ""
        log.warning("requests refused for a missing or wrong API key (401, not recorded): %s%s", counts, hint)
