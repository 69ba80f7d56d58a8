"""A request's id: 32 hex digits, the client-visible key of its record.

The first 3 digits are the second the request arrived in, modulo 4,096 (a cycle of 68 minutes);
the other 29 are random. Ids made in the same second therefore sit side by side in the store's
index on ``id``, so a batch of records lands on a few of its pages instead of one page each:
with fully random ids the record writer's CPU a record grew from 105 to about 118 µs as the store
grew to 260,000 requests, and now stays flat (benchmarks/RESULTS.md). Over any span longer than the
cycle the first digits are as evenly spread as random ones, so a short prefix of an id
(``llmgate logs``) stays about as unique as before; the random part is the last digits, which is
where a sampler draws from (``random_fraction``).
"""

from __future__ import annotations

import os
import time

#: the digits of the time part, and the period of their cycle in seconds (16 ** 3)
TIME_DIGITS = 3
_CYCLE = 16**TIME_DIGITS


def new_call_id() -> str:
    """A fresh request id (see the module doc)."""
    return f"{int(time.time()) % _CYCLE:03x}{os.urandom(15).hex()[1:]}"


def random_fraction(call_id: str) -> float:
    """A number in [0, 1) drawn from the random end of ``call_id`` (its last 8 hex digits: random in
    ids made before the time part too); ``ValueError`` for an id that does not end in hex."""
    tail = call_id[-8:]
    if len(tail) < 8:
        raise ValueError(f"id too short to draw from: {call_id!r}")
    return int(tail, 16) / 0x1_0000_0000
