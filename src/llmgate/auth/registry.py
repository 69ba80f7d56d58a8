"""The gateway's copy of the virtual keys, teams and internal users, kept current from the store.

Lookups are dictionary reads by key hash. The copy is loaded at start when the config has a
master key (``AppState.open``, so the first request with a key pays no import or query), else the
first time a virtual key arrives (so a gateway that cannot have keys never opens the store for
them); a load that failed is tried again on a later request, at most every ``RETRY_LOAD_S``. It
is then refreshed in the background: every ``POLL_INTERVAL_S`` a cheap query (row counts and the
newest ``updated_at`` of ``api_keys``, ``teams`` and ``internal_users``) says whether anything
changed, and only then are the tables read again. A key revoked or expired through any replica,
the CLI or the admin API is refused everywhere within that interval; the admin API of this
process also refreshes it at once.

A well-formed key the copy does not hold yet (made a moment ago, here or on another replica) is
looked up in the store on the spot (``fetch``), so it works on its very next request; how often
that may happen is bounded by ``MissGate`` (``key_misses.py``), so random keys cannot hammer the
store. Each such lookup is counted by its result: found, unknown, failed, or skipped (not asked).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from llmgate.auth.key_misses import MissGate

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from llmgate.store.keys import KeyRow, TeamRow
    from llmgate.store.users import UserRow

log = logging.getLogger("llmgate.auth")

POLL_INTERVAL_S = 0.25
#: after a failed load, requests are refused at once for this long before the store is tried again
RETRY_LOAD_S = 1.0
#: how long the start waits for the keys before serving without them (a store that is down)
WARM_TIMEOUT_S = 10.0


class KeyRegistry:
    def __init__(
        self,
        engine: Callable[[], Engine],
        *,
        poll_interval_s: float = POLL_INTERVAL_S,
        gate: MissGate | None = None,
        count: Callable[[str], None] | None = None,
    ) -> None:
        self._engine = engine  # called on first use: the store is opened lazily
        self._poll_interval = poll_interval_s
        self._gate = gate or MissGate()
        self._count = count  # a lookup's result -> llmgate_key_lookups_total
        #: store lookups of keys this copy lacked, by result (found, unknown, failed, skipped)
        self.lookups: Counter[str] = Counter()
        self._fetching: dict[str, asyncio.Future[KeyRow | None]] = {}
        self._fetch_failing = False
        self._failed_at = float("-inf")
        self._by_hash: dict[str, KeyRow] = {}
        self._teams: dict[str, TeamRow] = {}
        self._users: dict[str, UserRow] = {}  # internal users (their budgets), by id
        self._version: tuple[Any, ...] | None = None
        self._loaded = asyncio.Event()
        self._loading: asyncio.Task[None] | None = None
        self._poller: asyncio.Task[None] | None = None
        self._listeners: list[Callable[[], None]] = []

    @property
    def loaded(self) -> bool:
        return self._loaded.is_set()

    def lookup(self, key_hash: str) -> KeyRow | None:
        return self._by_hash.get(key_hash)

    def team(self, team_id: str | None) -> TeamRow | None:
        return self._teams.get(team_id) if team_id is not None else None

    def user(self, user_id: str | None) -> UserRow | None:
        return self._users.get(user_id) if user_id is not None else None

    def keys(self) -> list[KeyRow]:
        return list(self._by_hash.values())

    def teams(self) -> list[TeamRow]:
        return list(self._teams.values())

    def on_change(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    async def ensure_loaded(self, timeout: float = 10.0) -> None:
        """Load the keys if this is the first time; wait for a load already under way. A load
        that failed raises its error again until ``RETRY_LOAD_S`` has passed, then is retried."""
        if self._loaded.is_set():
            return
        task = self._loading
        if task is None or (task.done() and time.monotonic() - self._failed_at >= RETRY_LOAD_S):
            task = self._loading = asyncio.create_task(self._first_load())
            task.add_done_callback(lambda done: done.cancelled() or done.exception())  # retrieved
        await asyncio.wait_for(asyncio.shield(task), timeout)

    async def fetch(self, key_hash: str) -> KeyRow | None:
        """The key with this hash: from the copy, else from the store (a key made a moment ago),
        if ``MissGate`` allows a lookup now. Concurrent requests with one key share one lookup."""
        row = self._by_hash.get(key_hash)
        if row is not None:
            return row
        pending = self._fetching.get(key_hash)
        if pending is None:
            if not self._gate.admit(key_hash):
                self._counted("skipped")
                return None
            pending = asyncio.ensure_future(self._fetch(key_hash))
            self._fetching[key_hash] = pending
            pending.add_done_callback(lambda _: self._fetching.pop(key_hash, None))
        return await asyncio.shield(pending)  # a caller that goes away leaves the lookup to the others

    async def warm(self, timeout: float = WARM_TIMEOUT_S) -> None:
        """Load the keys now, at start (the store's engine, its schema and the first query with
        them), waiting at most ``timeout``; if the store cannot answer, they load on first use."""
        started = time.monotonic()
        try:
            await self.ensure_loaded(timeout)
        except Exception as exc:
            reason = "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
            log.warning("virtual keys not loaded at start (%s); they load on first use", reason)
        else:
            log.debug("virtual keys loaded in %.2f s", time.monotonic() - started)

    async def refresh(self) -> None:
        """Read the tables again now (after this process changed them)."""
        if self._loaded.is_set():
            await asyncio.to_thread(self._reload, force=True)

    async def close(self) -> None:
        for task in (self._poller, self._loading):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _first_load(self) -> None:
        try:
            await asyncio.to_thread(self._reload, force=True)
        except BaseException:
            self._failed_at = time.monotonic()
            raise
        self._loaded.set()
        self._poller = asyncio.create_task(self._poll(), name="llmgate-key-registry")

    async def _fetch(self, key_hash: str) -> KeyRow | None:
        try:
            found = await asyncio.to_thread(self._find, key_hash)
        except Exception as exc:  # the store may be down: the key is not known here
            self._counted("failed")
            if not self._fetch_failing:
                log.warning("cannot look a new key up in the store (%s)", type(exc).__name__)
            self._fetch_failing = True
            return None
        self._fetch_failing = False
        if found is None:
            self._gate.unknown(key_hash)
            self._counted("unknown")
            return None
        key, team, user = found
        if team is not None:
            self._teams[team.id] = team
        if user is not None:
            self._users[user.id] = user
        self._by_hash[key_hash] = key
        self._counted("found")
        return key

    def _find(self, key_hash: str) -> tuple[KeyRow, TeamRow | None, UserRow | None] | None:
        """(In a thread.) The key and, if this copy lacks them, its team and user, from the store."""
        # SQLAlchemy (the store): off the gateway's start-up, loaded when a key is first looked up
        from llmgate.store.keys import find_key, get_team
        from llmgate.store.users import get_user

        engine = self._engine()
        key = find_key(engine, key_hash)
        if key is None:
            return None
        team = None
        if key.team_id is not None and key.team_id not in self._teams:
            team = get_team(engine, key.team_id)
        user = None
        if key.user_id is not None and key.user_id not in self._users:
            user = get_user(engine, key.user_id)
        return key, team, user

    def _counted(self, result: str) -> None:
        self.lookups[result] += 1
        if self._count is not None:
            self._count(result)

    async def _poll(self) -> None:
        failing = False
        while True:
            await asyncio.sleep(self._poll_interval)
            try:
                await asyncio.to_thread(self._reload, force=False)
                if failing:
                    log.info("key store readable again")
                failing = False
            except Exception as exc:  # the store may be down: keep the last copy
                if not failing:
                    reason = type(exc).__name__
                    log.warning("cannot refresh keys from the store (%s); using the last copy", reason)
                failing = True

    def _reload(self, *, force: bool) -> None:
        # SQLAlchemy (the store): off the gateway's start-up, loaded on the first key reload
        from llmgate.store.keys import access_version, load_keys, load_teams
        from llmgate.store.migrate import upgrade
        from llmgate.store.users import load_users

        engine = self._engine()
        if self._version is None:
            upgrade(engine)  # a fresh store has no key tables until migrated
        version = access_version(engine)
        if not force and version == self._version:
            return
        keys, teams, users = load_keys(engine), load_teams(engine), load_users(engine)
        self._by_hash = {k.key_hash: k for k in keys}
        self._teams = {t.id: t for t in teams}
        self._users = {u.id: u for u in users}
        self._version = version
        self._gate.forget()  # a key unknown a moment ago may have been made since
        for listener in self._listeners:
            listener()
