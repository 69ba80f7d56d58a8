"""Failed dashboard logins, counted in a sliding minute per client address and per key prefix.

``POST /ui/login`` asks ``retry_after`` before it checks a key and calls ``failed`` when the key
does not open the dashboard. Past ``llmgate.ui.max_login_failures_per_minute`` failures in the
last minute for the client's address, or for the first ``PREFIX_CHARS`` characters of the key
tried, every login from that address or with that prefix is answered 429 with ``Retry-After``,
even with a right key, until the oldest of those failures is a minute old. Refused attempts are
not counted, so the wait never grows past a minute. The address bucket stops one client guessing
any key; the prefix bucket stops many addresses guessing one key. An IPv6 client is counted by its
/64 network, which one host usually holds whole.

The counts live in this process (one throttle per app): with N replicas behind a load balancer a
client gets up to N times the allowance, still a handful a minute. The buckets are bounded
(``MAX_BUCKETS``), the least recently failed dropped first, so guessing random prefixes costs the
gateway a fixed amount of memory. Behind a reverse proxy, run ``llmgate serve`` so that the
client's address is the real one (uvicorn's ``--forwarded-allow-ips``), or every client shares
the proxy's bucket.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable

log = logging.getLogger("llmgate.server")

WINDOW_S = 60.0
#: how much of a tried key names its bucket (``sk-lg-`` and two characters for a virtual key)
PREFIX_CHARS = 8
MAX_BUCKETS = 10_000


def address_bucket(host: str | None) -> str:
    """The bucket of a client address: the address itself, an IPv6 address's /64 network."""
    if not host:
        return "addr:unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return f"addr:{host[:64]}"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return f"addr:{address.ipv4_mapped}"
        return f"addr:{ipaddress.IPv6Network((address, 64), strict=False)}"
    return f"addr:{address}"


def prefix_bucket(key: str) -> str | None:
    """The bucket of a tried key: its first ``PREFIX_CHARS`` characters (none for an empty key)."""
    return f"key:{key[:PREFIX_CHARS]}" if key else None


class LoginThrottle:
    """Sliding-minute failure counts per bucket; see the module docstring."""

    def __init__(
        self,
        limit: int,
        *,
        window_s: float = WINDOW_S,
        max_buckets: int = MAX_BUCKETS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_buckets = max_buckets
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, buckets: list[str]) -> int | None:
        """Whole seconds until a login may be tried again, or ``None`` if it may be tried now."""
        now = self._clock()
        wait = 0.0
        for bucket in buckets:
            times = self._recent(bucket, now)
            if times is not None and len(times) >= self.limit:
                wait = max(wait, times[0] + self.window_s - now)
        return max(1, math.ceil(wait)) if wait > 0 else None

    def failed(self, buckets: list[str]) -> None:
        """Count a failed login in each bucket."""
        now = self._clock()
        for bucket in buckets:
            times = self._recent(bucket, now)
            if times is None:
                times = self._failures[bucket] = deque()
            times.append(now)
            self._failures.move_to_end(bucket)
            if len(times) == self.limit:
                kind = "client address" if bucket.startswith("addr:") else "key prefix"
                where = f" {bucket[5:]}" if kind == "client address" else ""  # never a part of a key
                log.warning(
                    "dashboard logins throttled for a minute: %d failures for %s%s", len(times), kind, where
                )
        self._bound()

    def _recent(self, bucket: str, now: float) -> deque[float] | None:
        times = self._failures.get(bucket)
        if times is None:
            return None
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._failures[bucket]
            return None
        return times

    def _bound(self) -> None:
        # the buckets are kept in order of their last failure: drop from the front
        while len(self._failures) > self.max_buckets:
            self._failures.popitem(last=False)
