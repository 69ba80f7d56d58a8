"""The garbage collector's settings for llmgate's long-running processes: the gateway and its record writer.

Both keep a large, long-lived heap (libraries, the price map, compiled SQL) and make many
short-lived objects a request (the gateway) or a record (the writer: unpickled records, parsed
streams, rows). CPython's default first-generation threshold (700 allocations) runs a collection
every request or two, each traversing every object still young. Frozen start-up objects and a
50,000 threshold took the gateway's throughput at concurrency 64 with recording off from about
3,200 to 4,000 requests/s and its p99 from about 145 to 60 ms; in the writer, its CPU a streamed
record from 114.5 to 109.2 µs (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import gc

#: (first generation's allocations, second's collections, third's) between collections
GC_THRESHOLDS = (50_000, 20, 10)


def freeze_start_up() -> None:
    """Once a process has built what it keeps for its life: collect, put every object left out of
    the collector's sight (never traversed again), and collect the young ones less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
