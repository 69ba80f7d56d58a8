"""Upstream calls' timeouts kept by one sweep a second, not by timers of aiohttp's for every call.

aiohttp keeps a call's timeout with timers: one for the whole exchange (``total``), or one for
each read (``sock_read``), cancelled and made again every time bytes arrive. Counted
(``benchmarks/upstream_call_instructions.py``), they were 18,900 instructions of a plain call's
407,700 and 9,300 of a streamed call's 379,400: on the gateway's core, for every request.

aiohttp rounds a deadline past its ceiling threshold (5 s) up to the next second anyway. For
such timeouts (every default one), ``Deadlines`` keeps the deadline of each task that waits on
its upstream (a task awaits one thing at a time), and a sweep, once a second while any task
waits, fails those past their deadline: between the deadline and a second after it, as
aiohttp's rounding did. A late task is cancelled, and the waiter turns that cancellation into
the timeout aiohttp would have raised (``timed_out``); a cancellation that came from elsewhere
(the client went away) stays one.

A plain call waits from its start until its answer is read (``total``). A stream waits from its
start until the answer's head, then again until its first chunk, then during each next read:
the read timeout counted from the last thing the upstream sent, as ``sock_read`` does. While
the gateway is busy elsewhere (writing to a slow client) a stream does not wait, and cannot
expire. Shorter timeouts keep aiohttp's own timers (``PooledClient._timers``).

A stream's reads set their deadline in ``waiting`` themselves: a method call a read would cost
much of what the timer it replaces did.
"""

from __future__ import annotations

import asyncio

import aiohttp

__all__ = ["SWEEP_EVERY_S", "Deadlines", "timed_out"]

#: how often the sweep runs while a call waits
SWEEP_EVERY_S = 1.0


def timed_out() -> aiohttp.SocketTimeoutError:
    """What a call that waited past its deadline raises (as aiohttp's timer would have)."""
    return aiohttp.SocketTimeoutError("Timeout on reading data from socket")


class Deadlines:
    """The deadlines of one client's waiting tasks (the loop's clock), and the sweep that fails
    the late ones."""

    def __init__(self, sweep_every_s: float = SWEEP_EVERY_S) -> None:
        self.waiting: dict[asyncio.Task[object], float] = {}
        self.expired: set[asyncio.Task[object]] = set()  # cancelled by the sweep, not yet seen
        self._every = sweep_every_s
        self._sweeping: asyncio.AbstractEventLoop | None = None  # the loop the sweep runs in

    def begin(self, limit: float) -> asyncio.Task[object] | None:
        """The current task, waiting for up to ``limit`` s from now (None: not in a task)."""
        task = asyncio.current_task()
        if task is None:
            return None
        loop = task.get_loop()
        self.waiting[task] = loop.time() + limit
        if self._sweeping is not loop:
            self._sweeping = loop
            loop.create_task(self._sweep(loop), name="llmgate-upstream-deadlines")
        return task

    def was_late(self, task: asyncio.Task[object]) -> bool:
        """After a ``CancelledError`` in ``task``: whether its deadline did it (then it is taken
        back, and the caller raises the timeout instead), unless something else cancelled it too."""
        if task not in self.expired:
            return False
        self.expired.discard(task)
        return task.uncancel() == 0

    def end(self, task: asyncio.Task[object]) -> None:
        """``task`` waits no more (its call is over, or a stream's read)."""
        self.waiting.pop(task, None)
        if self.expired and task in self.expired:  # cancelled, and the call ended before it saw that
            self.expired.discard(task)
            task.uncancel()

    async def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            while self.waiting:
                await asyncio.sleep(self._every)
                now = loop.time()
                for task in [task for task, deadline in self.waiting.items() if deadline <= now]:
                    del self.waiting[task]
                    self.expired.add(task)
                    task.cancel()
        finally:
            if self._sweeping is loop:
                self._sweeping = None
