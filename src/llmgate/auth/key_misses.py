"""How often the gateway may ask the store about a key its copy of the keys does not hold.

A key made a moment ago (``llmgate keys create``, or the admin API on another replica) reaches the
gateway's copy only at the registry's next poll, so a well-formed key the copy lacks is looked up
in the store at once. Anyone can send well-formed random keys, though, and each lookup is a query:
``MissGate`` lets at most ``LOOKUPS_PER_S`` such lookups a second through (a token bucket holding
up to ``BURST``, so a batch of new keys used at once all pass), and remembers a key hash the store
did not know for ``FORGET_AFTER_S`` (or until the registry sees the keys change), so one wrong key
sent again and again is looked up once. Past the rate, an unknown key is refused without a lookup,
as it was before the store was asked at all: a real new key then works from the next poll.
"""

from __future__ import annotations

import time
from collections.abc import Callable

#: store lookups of unknown keys per second, per process, and how many may come at once
LOOKUPS_PER_S = 20.0
BURST = 20
#: how long a key hash the store did not know is refused without asking again
FORGET_AFTER_S = 2.0
#: the most unknown key hashes remembered (a flood of random keys must not grow memory)
MAX_REMEMBERED = 10_000


class MissGate:
    def __init__(
        self,
        *,
        rate_per_s: float = LOOKUPS_PER_S,
        burst: int = BURST,
        forget_after_s: float = FORGET_AFTER_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rate = rate_per_s
        self._burst = float(burst)
        self._forget_after = forget_after_s
        self._clock = clock
        self._tokens = float(burst)
        self._filled_at = clock()
        self._unknown: dict[str, float] = {}  # key hash -> when it may be asked about again

    def admit(self, key_hash: str) -> bool:
        """Whether the store may be asked about ``key_hash`` now (takes a token if so)."""
        now = self._clock()
        until = self._unknown.get(key_hash)
        if until is not None:
            if now < until:
                return False
            self._unknown.pop(key_hash, None)  # (``forget`` may have emptied it from another thread)
        self._tokens = min(self._burst, self._tokens + (now - self._filled_at) * self._rate)
        self._filled_at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    def unknown(self, key_hash: str) -> None:
        """The store did not know ``key_hash``: do not ask about it again for a while."""
        if len(self._unknown) >= MAX_REMEMBERED:
            now = self._clock()
            self._unknown = {h: until for h, until in self._unknown.items() if until > now}
            if len(self._unknown) >= MAX_REMEMBERED:
                self._unknown.clear()  # a flood of distinct keys: the token bucket still bounds it
        self._unknown[key_hash] = self._clock() + self._forget_after

    def forget(self) -> None:
        """The keys changed in the store: what it did not know before may be there now."""
        self._unknown = {}
