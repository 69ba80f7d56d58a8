"""Responses kept for ``previous_response_id`` and ``GET /v1/responses/{id}``: in memory at once,
in the store soon after.

``remember`` is O(1) on the request path: the entry goes into a bounded in-memory map (the most
recent ``capacity`` responses), so the next call of the conversation finds it however soon it
comes, and onto a queue that one background task writes to the store in batches
(``store/responses.py``), so another replica, or this one after a restart, finds it too. A response
not in memory is read from the store (in a thread) and kept in memory again. ``close`` writes
what is still queued, at shutdown.

``chain`` is what a translated call continues: the input items and output items of each response
from the first of the conversation to the one named, oldest first, but only for the caller that
owns it (anyone else is told it does not exist). SQLAlchemy is imported only when the store is
first used, so a gateway that never sees a stored response never loads it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from llmgate.apis.base import CURRENT_RECORD
from llmgate.errors import LlmgateError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = ["ResponseMemory", "StoredResponse"]

log = logging.getLogger("llmgate.responses")

CAPACITY = 10_000
BATCH = 100
RETRIES = 5
RETRY_DELAY_S = 1.0
#: the longest conversation followed back (a guard, not a limit anyone should meet)
MAX_CHAIN = 10_000


@dataclass(slots=True)
class StoredResponse:
    """One kept response. ``response`` None: the deployment keeps it (a Responses-speaking one)."""

    id: str
    owner: str | None
    deployment: str
    created_at: datetime
    previous_id: str | None
    input_items: list[dict[str, Any]] | None
    response: dict[str, Any] | None

    def row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "owner": self.owner,
            "deployment": self.deployment,
            "created_at": self.created_at,
            "previous_response_id": self.previous_id,
            "input_json": orjson.dumps(self.input_items).decode() if self.input_items is not None else None,
            "response_json": orjson.dumps(self.response).decode() if self.response is not None else None,
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> StoredResponse:
        items = orjson.loads(row["input_json"]) if row.get("input_json") else None
        response = orjson.loads(row["response_json"]) if row.get("response_json") else None
        return cls(
            id=row["id"],
            owner=row.get("owner"),
            deployment=row["deployment"],
            created_at=row["created_at"],
            previous_id=row.get("previous_response_id"),
            input_items=items,
            response=response,
        )


def now() -> datetime:
    return datetime.now(UTC)


class ResponseMemory:
    """Kept responses: recent ones in memory, all in the store (``engine`` None: memory only)."""

    def __init__(self, engine: Callable[[], Engine] | None, *, capacity: int = CAPACITY) -> None:
        self._engine = engine
        self._capacity = capacity
        self._recent: OrderedDict[str, StoredResponse] = OrderedDict()
        self._queue: list[StoredResponse] = []
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._writing: set[str] = set()
        self._deleted: set[str] = set()
        self._closing = False

    # --- the request path -----------------------------------------------------------------

    def remember(self, entry: StoredResponse) -> None:
        """Keep ``entry`` (in memory now, in the store in the background)."""
        self._keep(entry)
        record = CURRENT_RECORD.get()
        if record is not None:  # stored with the request's record, by the record's writer
            record.stored_response = entry.row()
            return
        if self._engine is None:
            return
        self._queue.append(entry)
        self._wake.set()
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write_loop())

    def _keep(self, entry: StoredResponse) -> None:
        self._recent[entry.id] = entry
        self._recent.move_to_end(entry.id)
        while len(self._recent) > self._capacity:
            self._recent.popitem(last=False)

    async def get(self, response_id: str) -> StoredResponse | None:
        """The kept response ``response_id`` (whoever owns it), or None."""
        entry = self._recent.get(response_id)
        if entry is not None or self._engine is None:
            return entry
        from llmgate.store.responses import load_response  # SQLAlchemy: only once the store is used

        try:
            row = await asyncio.to_thread(load_response, self._engine(), response_id)
        except LlmgateError as exc:
            log.warning("could not read stored response %s: %s", response_id, exc.message)
            return None
        if row is None:
            return None
        entry = StoredResponse.from_row(row)
        self._keep(entry)
        return entry

    async def owned(self, response_id: str, owner: str | None) -> StoredResponse | None:
        """``response_id`` if ``owner`` owns it, else None (another's response does not exist)."""
        entry = await self.get(response_id)
        return entry if entry is not None and entry.owner == owner else None

    async def chain(self, response_id: str, owner: str | None) -> list[dict[str, Any]] | None:
        """The items of the conversation up to and including ``response_id``, oldest first; None
        if it is not ``owner``'s or was not made here (a passed-through one is its deployment's)."""
        entry = await self.owned(response_id, owner)
        if entry is None or entry.response is None:
            return None
        turns: list[list[dict[str, Any]]] = []
        seen: set[str] = set()
        while entry is not None and entry.response is not None and entry.id not in seen:
            seen.add(entry.id)
            output = [i for i in entry.response.get("output") or [] if isinstance(i, dict)]
            turns.append([*(entry.input_items or []), *output])
            if entry.previous_id is None or len(seen) >= MAX_CHAIN:
                break
            entry = await self.get(entry.previous_id)
        return [item for turn in reversed(turns) for item in turn]

    # --- off the request path -------------------------------------------------------------

    async def forget(self, response_id: str) -> None:
        """Delete ``response_id`` from memory and the store (also if a write of it is under way)."""
        self._recent.pop(response_id, None)
        self._queue = [e for e in self._queue if e.id != response_id]
        if self._engine is None:
            return
        if response_id in self._writing:
            self._deleted.add(response_id)
        from llmgate.store.responses import delete_response  # SQLAlchemy: only once the store is used

        await asyncio.to_thread(delete_response, self._engine(), response_id)

    async def _write_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch, self._queue = self._queue[:BATCH], self._queue[BATCH:]
                await self._write(batch)
            if self._closing:
                return

    async def _write(self, batch: list[StoredResponse]) -> None:
        from llmgate.store.responses import delete_response, save_responses  # SQLAlchemy: store in use

        assert self._engine is not None
        ids = {entry.id for entry in batch}
        self._writing |= ids
        try:
            for attempt in range(RETRIES):
                try:
                    engine = self._engine()
                    await asyncio.to_thread(save_responses, engine, [entry.row() for entry in batch])
                    for gone in ids & self._deleted:
                        await asyncio.to_thread(delete_response, engine, gone)
                    return
                except Exception as exc:  # the store may be down or not migrated yet: try again
                    message = exc.message if isinstance(exc, LlmgateError) else type(exc).__name__
                    if attempt == RETRIES - 1:
                        log.warning("%d stored responses kept in memory only: %s", len(batch), message)
                        return
                    await asyncio.sleep(RETRY_DELAY_S * (attempt + 1))
        finally:
            self._writing -= ids
            self._deleted -= ids

    async def close(self) -> None:
        """Write what is queued (the lifespan bounds how long this may take)."""
        writer = self._writer
        if writer is None or writer.done():
            return
        self._closing = True
        self._wake.set()
        await writer
