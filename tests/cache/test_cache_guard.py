"""A failing or slow backend is skipped within its timeout, counted, and left alone a while."""

from __future__ import annotations

import asyncio
import time

import pytest

from llmgate.cache import guard
from llmgate.cache.guard import ERRORS_METRIC, Guard, Skipped


async def test_a_slow_call_is_cut_at_the_timeout_and_counted() -> None:
    counted: list[tuple[str, tuple[str, ...]]] = []
    g = Guard("redis", lambda name, labels: counted.append((name, labels)), bounded=True)
    started = time.perf_counter()
    with pytest.raises(Skipped):
        await g.call("get", asyncio.sleep(5), 0.01)
    assert time.perf_counter() - started < 0.2
    assert counted == [(ERRORS_METRIC, ("redis", "get"))] and g.errors == 1


async def test_after_failures_in_a_row_the_backend_is_not_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guard, "SKIP_S", 0.2)
    g = Guard("redis", None, bounded=True)
    asked = 0

    async def failing() -> None:
        nonlocal asked
        asked += 1
        raise ConnectionError("refused")

    for _ in range(guard.TRIP_AFTER + 2):
        with pytest.raises(Skipped):
            await g.call("get", failing(), 1.0)
    assert asked == guard.TRIP_AFTER  # the last two were skipped without asking
    await asyncio.sleep(0.25)

    async def fine() -> int:
        return 1

    assert await g.call("get", fine(), 1.0) == 1  # asked again, and it answers


async def test_the_local_backend_is_not_bounded() -> None:
    g = Guard("local", None, bounded=False)

    async def quick() -> str:
        await asyncio.sleep(0.02)
        return "ok"

    assert await g.call("get", quick(), 0.001) == "ok"
