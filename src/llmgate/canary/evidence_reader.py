"""A canary's evidence, read incrementally from the store: what the leader keeps in memory.

``EvidenceReader`` holds one canary's ``CanaryEvidence`` (``evidence.py``) and its cursors into the
store (``store/canary_evidence.py``). Each ``update`` (in a thread: ``asyncio.to_thread``) adds the
requests recorded since the last one, and the monitor's new samples of them:

- Requests are read in (created_at, id) order up to ``settle_s`` ago (writes of the last moments
  may still be on their way). A call is recorded when it *ends*, so a slow one appears behind
  rows that started after it: every ``late_every_s`` the reader looks back ``lookback_s`` (the
  gateway's request timeout: no call is recorded later than that after it started) for ids it has
  not seen, and reads just those. The ids seen in that window are kept to tell them apart.
- Monitor samples are read in (sampled_at, record_id) order.

The candidate's requests at the current step are counted from their start times, so a step started
by hand (``llmgate canary promote``) while the reader was already past its start still counts them.

A new leader builds its readers from nothing: the first ``update`` reads the canary from its start.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from llmgate.canary.evidence import CanaryEvidence

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = ["LATE_EVERY_S", "LOOKBACK_S", "SETTLE_S", "EvidenceReader"]

#: rows newer than this are left for the next read (the recorder flushes every 0.25 s by default)
SETTLE_S = 1.0
#: how often the reader looks back for rows written late, and how far (the default request timeout)
LATE_EVERY_S = 5.0
LOOKBACK_S = 600.0
PAGE = 5000
#: at most this many pages per read (the rest comes at the next one: a tick stays short)
MAX_PAGES = 40


def _utc(stamp: datetime) -> datetime:
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp


class EvidenceReader:
    """One canary's evidence and its cursors (see the module doc). Not thread-safe: one ``update``
    at a time (the controller awaits each)."""

    def __init__(
        self,
        canary_id: str,
        engine_factory: Callable[[], Engine],
        *,
        settle_s: float = SETTLE_S,
        lookback_s: float = LOOKBACK_S,
        late_every_s: float = LATE_EVERY_S,
        page: int = PAGE,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.canary_id = canary_id
        self.evidence = CanaryEvidence()
        self._engine_factory = engine_factory
        self._settle = timedelta(seconds=settle_s)
        self._lookback = timedelta(seconds=lookback_s)
        self._late_every = timedelta(seconds=late_every_s)
        self._page = page
        self._clock = clock
        self._calls: tuple[datetime, str] | None = None
        self._quality: tuple[datetime, str] | None = None
        self._recent: dict[str, datetime] = {}  # ids read, created within the lookback of the cursor
        self._last_sweep: datetime | None = None
        self._candidate_times = array("d")  # sorted start times of the candidate's requests (8 bytes each)
        self.late_rows = 0  # rows found by the look-back (written after the cursor passed them)

    @property
    def candidate_requests(self) -> int:
        return self.evidence.candidate.requests

    @property
    def stable_requests(self) -> int:
        return self.evidence.stable.requests

    @property
    def first_candidate_at(self) -> datetime | None:
        return self.evidence.first_candidate_at

    def step_requests(self, since: datetime) -> int:
        """The candidate's requests that started at or after ``since`` (the current step's start)."""
        return len(self._candidate_times) - bisect.bisect_left(self._candidate_times, _utc(since).timestamp())

    def update(self, step_started_at: datetime) -> CanaryEvidence:
        """Add what the store has gained since the last update (blocking: run it in a thread)."""
        # SQLAlchemy (the store): the gateway process loads it here, in a thread, not at start-up
        from llmgate.store.canary_evidence import evidence_ids, evidence_rows, quality_rows

        engine = self._engine_factory()
        step = _utc(step_started_at)
        if self.evidence.step_started_at != step:
            self.evidence.start_step(step)
        now = self._clock()
        until = now - self._settle
        for _ in range(MAX_PAGES):
            rows, cursor = evidence_rows(engine, self.canary_id, self._calls, self._page, until=until)
            self._take(rows)
            self._calls = cursor
            if len(rows) < self._page:
                break
        if self._calls is not None and (
            self._last_sweep is None or now - self._last_sweep >= self._late_every
        ):
            self._last_sweep = now
            edge = _utc(self._calls[0]) + timedelta(microseconds=1)  # the cursor's own time included
            since = edge - self._lookback
            self._recent = {i: at for i, at in self._recent.items() if at >= since}
            missing = [i for i in evidence_ids(engine, self.canary_id, since, edge) if i not in self._recent]
            for start in range(0, len(missing), 500):
                rows, _ = evidence_rows(
                    engine, self.canary_id, None, len(missing), ids=missing[start : start + 500]
                )
                self.late_rows += len(rows)
                self._take(rows)
        for _ in range(MAX_PAGES):
            samples, cursor = quality_rows(engine, self.canary_id, self._quality, self._page)
            self.evidence.add_quality(samples)
            self._quality = cursor
            if len(samples) < self._page:
                break
        self.evidence.step_requests = self.step_requests(step)
        return self.evidence

    def _take(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        self.evidence.add_rows(rows)
        for row in rows:
            created = _created(row)
            self._recent[str(row["id"])] = created
            if row.get("arm") == "candidate":
                bisect.insort(self._candidate_times, created.timestamp())


def _created(row: Mapping[str, Any]) -> datetime:
    stamp = row.get("created_at")
    return _utc(stamp) if isinstance(stamp, datetime) else datetime.now(UTC)
