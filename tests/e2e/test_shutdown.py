"""Shutdown never hangs: a part that does not close in time is left behind, with a log line."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from llmgate.server.app import bounded


async def test_a_hanging_step_is_abandoned_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    never = asyncio.Event()
    began = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="llmgate.server"):
        await bounded(never.wait(), "closing the key registry", timeout=0.2)
    assert time.monotonic() - began < 2
    assert "closing the key registry took more than" in caplog.text


async def test_a_failing_step_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    async def broken() -> None:
        raise ConnectionError("redis went away")

    with caplog.at_level(logging.ERROR, logger="llmgate.server"):
        await bounded(broken(), "closing the rate limits")
    assert "closing the rate limits failed" in caplog.text
    done: list[int] = []

    async def fine() -> None:
        done.append(1)

    await bounded(fine(), "the next part")
    assert done == [1]
