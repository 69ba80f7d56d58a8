"""The garbage collector's settings for the gateway and its record writer (``llmgate/heap.py``)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from llmgate.heap import GC_THRESHOLDS, freeze_start_up


@pytest.fixture
def collector() -> Iterator[None]:
    """The test process's collector as it was, afterwards."""
    thresholds = gc.get_threshold()
    frozen = gc.get_freeze_count()
    yield
    gc.unfreeze()
    if frozen:
        gc.freeze()  # the suite's own start-up, frozen before this test
    gc.set_threshold(*thresholds)


def test_start_up_objects_leave_the_collectors_sight(collector: None) -> None:
    kept = [{"built": i} for i in range(1_000)]  # what a process builds once and keeps
    before = gc.get_freeze_count()

    freeze_start_up()

    assert gc.get_freeze_count() >= before + len(kept)
    assert gc.get_count()[0] < 100  # collected first: nothing young left to traverse
    assert gc.get_threshold() == GC_THRESHOLDS


def test_garbage_made_after_start_up_is_still_collected(collector: None) -> None:
    freeze_start_up()

    class Node:
        def __init__(self) -> None:
            self.me = self  # a cycle: only the collector frees it

    gc.collect()
    node = Node()
    del node
    assert gc.collect() >= 1
