"""The gateway's copy of the virtual keys and teams, kept current from the store.

Lookups are dictionary reads by key hash: nothing touches the store on the request path. The
copy is loaded the first time a key that is not the master key arrives (so a gateway used only
with its master key never opens the store for it), then refreshed in the background: every
``POLL_INTERVAL_S`` a cheap query (row counts and the newest ``updated_at`` of ``api_keys`` and
``teams``) says whether anything changed, and only then are the tables read again. A key revoked
or expired through any replica, the CLI or the admin API is refused everywhere within that
interval; the admin API of this process also refreshes it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from llmgate.store.keys import KeyRow, TeamRow

log = logging.getLogger("llmgate.auth")

POLL_INTERVAL_S = 0.25


class KeyRegistry:
    def __init__(self, engine: Callable[[], Engine], *, poll_interval_s: float = POLL_INTERVAL_S) -> None:
        self._engine = engine  # called on first use: the store is opened lazily
        self._poll_interval = poll_interval_s
        self._by_hash: dict[str, KeyRow] = {}
        self._teams: dict[str, TeamRow] = {}
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

    def keys(self) -> list[KeyRow]:
        return list(self._by_hash.values())

    def teams(self) -> list[TeamRow]:
        return list(self._teams.values())

    def on_change(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    async def ensure_loaded(self, timeout: float = 10.0) -> None:
        """Load the keys if this is the first time; wait for a load already under way."""
        if self._loaded.is_set():
            return
        if self._loading is None:
            self._loading = asyncio.create_task(self._first_load())
        await asyncio.wait_for(asyncio.shield(self._loading), timeout)

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
        await asyncio.to_thread(self._reload, force=True)
        self._loaded.set()
        self._poller = asyncio.create_task(self._poll(), name="llmgate-key-registry")

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
        from llmgate.store.keys import keys_version, load_keys, load_teams
        from llmgate.store.migrate import upgrade

        engine = self._engine()
        if self._version is None:
            upgrade(engine)  # a fresh store has no key tables until migrated
        version = keys_version(engine)
        if not force and version == self._version:
            return
        keys, teams = load_keys(engine), load_teams(engine)
        self._by_hash = {k.key_hash: k for k in keys}
        self._teams = {t.id: t for t in teams}
        self._version = version
        for listener in self._listeners:
            listener()
