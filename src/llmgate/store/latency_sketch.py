"""The rollups' latency sketch: a histogram over fixed log-spaced buckets (``lat_00`` ... of
``rollup_hours``), which merges by addition, read back as percentiles within a bucket's width.

Bucket ``k`` holds ``LATENCY_BOUNDS_MS[k-1] <= latency < LATENCY_BOUNDS_MS[k]`` (bucket 0: under
1 ms; the last: 131 s or more), as PostgreSQL's ``width_bucket`` counts; ``store/rollup_statements.py``
buckets in SQL by the same rule, ``latency_bucket`` in Python.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from decimal import Decimal

from llmgate.store.rollup_tables import LATENCY_BOUNDS_MS


def latency_bucket(latency_ms: float) -> int:
    """The histogram bucket of a latency: how many bounds it reaches."""
    return bisect_right(LATENCY_BOUNDS_MS, latency_ms)


def histogram_percentile(counts: Sequence[int], p: float) -> float | None:
    """The nearest-rank ``p`` percentile (rank ``ceil(p * n)``) of a latency histogram (counts per
    bucket, as ``lat_00`` ...), as its bucket's geometric midpoint in ms: ``sqrt(lower * upper)``,
    1 ms for the first bucket (its lower bound is 0), 131072 ms for the last (it has no upper
    bound). ``None`` when the histogram is empty."""
    total = sum(counts)
    if total <= 0:
        return None
    rank = max(1, math.ceil(Decimal(repr(p)) * total))  # p as written: 0.95 * 20 is 19, exactly
    seen = 0
    for index, count in enumerate(counts):
        seen += count
        if seen >= rank:
            if index == 0:
                return LATENCY_BOUNDS_MS[0]
            if index >= len(LATENCY_BOUNDS_MS):
                return LATENCY_BOUNDS_MS[-1]
            return math.sqrt(LATENCY_BOUNDS_MS[index - 1] * LATENCY_BOUNDS_MS[index])
    return None  # pragma: no cover - p above 1
