"""Budget counters and reservations: what a scope spent this period, and what it has in flight.

A budget scope (``key:<id>``, ``team:<id>``, ``user:<id>``) has, per period, a spend counter and
the reservations of the requests it is running. A request is admitted when, in every scope of
its key, spend + reserved + its own worst-case cost fits the budget, or when nothing is in flight
there and spend is still under the budget (one request may always run while money is left, so
a budget is passed by at most one request's cost). Admission reserves the worst case in all the
scopes in one step; ``settle`` releases it and adds the real cost, once.

A spend counter starts from the store's sum for the period (so a restart forgets nothing) and
grows as answers complete. In-process it is a ``Decimal`` also caught up with the store every
``RESEED_S`` (other workers' spend). In Redis, shared by every replica, it is an integer of
1e-10 USD (``INCRBY``, exact), the reservations are a hash per scope and period (``id`` →
``amount:deadline``), and one Lua script checks and reserves across all scopes atomically. A
reservation there is a lease: the replica holding it renews it every ``RENEW_S`` while the
request runs, so the reservations of a replica that died lapse within ``LEASE_S``.

A reservation dropped without being settled (a bug, or a stream the server never started) is
released when it is garbage-collected, so no scope is blocked by a request that no longer runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import os
import time
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from llmgate.auth import redis_scripts
from llmgate.auth.redis_batch import ScriptBatcher

log = logging.getLogger("llmgate.auth")

#: how often in-process spend counters are caught up with the store
RESEED_S = 5.0
UNITS = Decimal(10) ** 10  # Redis counters: integer 1e-10 USD
#: a Redis reservation lapses this long after its holder last renewed it
LEASE_S = 30.0
RENEW_S = 10.0
#: Redis spend counters outlive the longest period (a month) and then go
SPEND_TTL_S = 40 * 86400

ZERO = Decimal(0)

Seed = Callable[[], Awaitable[Decimal]]


@dataclass(frozen=True, slots=True)
class BudgetCheck:
    """One budget a request is checked against."""

    scope: str
    period_start: float
    budget: Decimal
    seed: Seed  # the store's spend for the scope and period


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request did not fit: the ``index`` of the check, and that scope's figures."""

    index: int
    spent: Decimal
    reserved: Decimal
    in_flight: int


@dataclass(eq=False, slots=True, weakref_slot=True)
class Reservation:
    """A request's worst-case cost, held in each of its scopes until it is settled."""

    id: str
    scopes: list[tuple[str, float]]
    amount: Decimal
    settled: bool = False
    finalizer: Any = field(default=None, repr=False)  # weakref.finalize releasing it if dropped


class _Backend:
    """What both backends share: reservation ids, settling once, and releasing reservations dropped
    unsettled."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._id_prefix = os.urandom(6).hex()  # reservation ids unique across replicas

    def _new_id(self) -> str:
        return f"{self._id_prefix}:{next(self._ids)}"

    def _new(self, reservation_id: str, checks: list[BudgetCheck], amount: Decimal) -> Reservation:
        reservation = Reservation(reservation_id, [(c.scope, c.period_start) for c in checks], amount)
        reservation.finalizer = weakref.finalize(
            reservation,
            _abandoned,
            asyncio.get_running_loop(),
            self._release_dropped,
            reservation.id,
            reservation.scopes,
        )
        reservation.finalizer.atexit = False  # at exit the counters go with the process
        return reservation

    @staticmethod
    def _settling(reservation: Reservation) -> bool:
        """Mark ``reservation`` settled, its drop-release off; False if it already was settled."""
        if reservation.settled:
            return False
        reservation.settled = True
        reservation.finalizer.detach()
        return True

    def _release_dropped(self, reservation_id: str, scopes: list[tuple[str, float]]) -> None:
        raise NotImplementedError


def _abandoned(
    loop: asyncio.AbstractEventLoop,
    release: Callable[[str, list[tuple[str, float]]], None],
    reservation_id: str,
    scopes: list[tuple[str, float]],
) -> None:
    """A reservation was garbage-collected unsettled: release it on its loop (any thread may GC)."""
    log.warning("a budget reservation was dropped without being settled; releasing it")
    with contextlib.suppress(RuntimeError):  # the loop is closed: the process is ending
        loop.call_soon_threadsafe(release, reservation_id, scopes)


def _fits(spent: Decimal, reserved: Decimal, in_flight: int, amount: Decimal, budget: Decimal) -> bool:
    return spent < budget and (in_flight == 0 or spent + reserved + amount <= budget)


class LocalBudgets(_Backend):
    """Counters and reservations in this process (one gateway process)."""

    def __init__(self) -> None:
        super().__init__()
        self._spend: dict[tuple[str, float], Decimal] = {}
        self._seeded_at: dict[tuple[str, float], float] = {}
        self._held: dict[tuple[str, float], dict[str, Decimal]] = {}

    async def _refresh(self, key: tuple[str, float], seed: Seed) -> None:
        now = time.monotonic()
        if key not in self._spend or now - self._seeded_at.get(key, 0.0) > RESEED_S:
            self._seeded_at[key] = now
            stored = await seed()
            self._spend[key] = max(self._spend.get(key, ZERO), stored)

    async def reserve(self, checks: list[BudgetCheck], amount: Decimal) -> Reservation | Refusal:
        for check in checks:
            await self._refresh((check.scope, check.period_start), check.seed)
        # No await from here on: the check and the reservation are one step for this event loop.
        for index, check in enumerate(checks):
            key = (check.scope, check.period_start)
            spent, held = self._spend[key], self._held.get(key, {})
            reserved = sum(held.values(), ZERO)
            if not _fits(spent, reserved, len(held), amount, check.budget):
                return Refusal(index, spent, reserved, len(held))
        reservation = self._new(self._new_id(), checks, amount)
        for key in reservation.scopes:
            self._held.setdefault(key, {})[reservation.id] = amount
        return reservation

    async def settle(self, reservation: Reservation, cost: Decimal | None) -> None:
        if not self._settling(reservation):
            return
        self._release_dropped(reservation.id, reservation.scopes)
        if cost:
            for key in reservation.scopes:
                self._spend[key] = self._spend.get(key, ZERO) + cost

    def _release_dropped(self, reservation_id: str, scopes: list[tuple[str, float]]) -> None:
        for key in scopes:
            held = self._held.get(key)
            if held is not None:
                held.pop(reservation_id, None)
                if not held:
                    del self._held[key]

    async def close(self) -> None:
        return None


class RedisBudgets(_Backend):
    """The same in Redis, shared by every gateway process that uses it."""

    def __init__(self, redis: Any, prefix: str) -> None:
        super().__init__()
        self._redis = redis
        self._key_prefix = prefix
        self._batch = ScriptBatcher(redis)  # admissions and settlings of one loop turn: one round trip
        self._renew = redis.register_script(redis_scripts.RENEW)
        self._live: weakref.WeakValueDictionary[str, Reservation] = weakref.WeakValueDictionary()
        self._renewer: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    def _keys(self, scopes: list[tuple[str, float]]) -> list[str]:
        keys = []
        for scope, start in scopes:
            keys += [
                f"{self._key_prefix}:spend:{scope}:{int(start)}",
                f"{self._key_prefix}:held:{scope}:{int(start)}",
            ]
        return keys

    async def _seed(self, scope: str, period_start: float, seed: Seed) -> None:
        """Start a scope's counter from the store (first use this period, or Redis restarted)."""
        stored = await seed()
        key = self._keys([(scope, period_start)])[0]
        await self._redis.set(key, int(stored * UNITS), nx=True, ex=SPEND_TTL_S)

    async def reserve(self, checks: list[BudgetCheck], amount: Decimal) -> Reservation | Refusal:
        status, outcome, _ = await self.admit(checks, amount, [], [])
        assert outcome is not None and status in (0, 1)
        return outcome

    async def admit(
        self, checks: list[BudgetCheck], amount: Decimal, limit_keys: list[str], limit_args: list[Any]
    ) -> tuple[int, Reservation | Refusal | None, list[int]]:
        """The rate limits of ``limit_keys`` (``redis_scripts.ADMIT``'s layout, ``limit_args`` from
        its window on) and then the reservation of ``amount`` in every budget of ``checks``, in one
        script: (status, the reservation or refusal (None when a rate limit refused or there is no
        budget), the rate limits' figures)."""
        scopes = [(c.scope, c.period_start) for c in checks]
        units = math.ceil(amount * UNITS)
        reservation_id = self._new_id()
        budgets = [int(c.budget * UNITS) for c in checks]
        script, keys = (
            (redis_scripts.ADMIT, self._keys(scopes) + limit_keys)
            if limit_keys
            else (redis_scripts.RESERVE, self._keys(scopes))
        )
        for _ in range(len(checks) + 1):  # each pass seeds at most one missing counter
            now_ms = int(time.time() * 1000)
            args = [now_ms, now_ms + int(LEASE_S * 1000), reservation_id, units]
            args += [len(checks), *budgets, *limit_args] if limit_keys else budgets
            status, index, spent, reserved, count, *figures = await self._batch.call(script, keys, args)
            if status != -1:
                break
            check = checks[int(index) - 1]
            await self._seed(check.scope, check.period_start, check.seed)
        else:
            raise RuntimeError("budget counters could not be seeded")
        figures = [int(value) for value in figures]
        if status == 0:
            refusal = Refusal(
                int(index) - 1, Decimal(int(spent)) / UNITS, Decimal(int(reserved)) / UNITS, int(count)
            )
            return 0, refusal, figures
        if status != 1 or not checks:
            return int(status), None, figures
        reservation = self._new(reservation_id, checks, amount)
        self._live[reservation_id] = reservation
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.get_running_loop().create_task(self._renew_leases())
        return 1, reservation, figures

    async def settle(
        self,
        reservation: Reservation | None,
        cost: Decimal | None,
        token_keys: Sequence[str] = (),
        token_args: Sequence[int] = (0, 0, 0),
    ) -> None:
        """Release ``reservation`` and add ``cost`` to its scopes' spend and, in the same script,
        count tokens in ``token_keys`` (``limits.py``'s: ``token_args`` is the second, the hashes'
        TTL and the tokens, as ``redis_scripts.SETTLE`` takes them)."""
        settling = reservation is not None and self._settling(reservation)
        if not settling and not (token_keys and token_args[2] > 0):
            return
        keys: list[str] = list(token_keys)
        args: list[Any] = [len(token_keys), *token_args]
        if reservation is not None and settling:
            self._live.pop(reservation.id, None)
            keys += self._keys(reservation.scopes)
            args += [reservation.id, int(cost * UNITS) if cost and cost > 0 else 0]
        else:
            args += ["", 0]
        await self._batch.call(redis_scripts.SETTLE, keys, args)

    def _release_dropped(self, reservation_id: str, scopes: list[tuple[str, float]]) -> None:
        task = asyncio.get_running_loop().create_task(self._release(reservation_id, scopes))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _release(self, reservation_id: str, scopes: list[tuple[str, float]]) -> None:
        try:
            await self._batch.call(redis_scripts.SETTLE, self._keys(scopes), [0, 0, 0, 0, reservation_id, 0])
        except Exception as exc:  # Redis down: its lease lapses instead
            log.warning("could not release a budget reservation (%s)", type(exc).__name__)

    async def _renew_leases(self) -> None:
        """Renew the leases of the reservations this process holds, while it holds any."""
        while True:
            await asyncio.sleep(RENEW_S)
            live = list(self._live.values())
            if not live:
                return
            deadline = int(time.time() * 1000) + int(LEASE_S * 1000)
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for reservation in live:
                        units = math.ceil(reservation.amount * UNITS)
                        keys = self._keys(reservation.scopes)[1::2]
                        await self._renew(
                            keys=keys,
                            args=[reservation.id, units, deadline, int(LEASE_S * 1000)],
                            client=pipe,
                        )
                    await pipe.execute()
            except Exception as exc:  # Redis down: the leases lapse; admissions fail until it is back
                log.warning("could not renew budget reservations (%s)", type(exc).__name__)
            del live

    async def close(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._batch.close()
