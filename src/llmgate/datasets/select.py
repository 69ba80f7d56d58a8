"""Selecting recorded calls for a dataset: filter, sample, drop near-duplicates, scrub.

``select_items`` is what ``llmgate dataset create NAME --from-logs`` runs:

1. ``where`` is parsed first (``filter.py``), so a bad expression fails before the store is read.
2. The calls of the window (``since`` inclusive, ``until`` exclusive, of ``model`` when given)
   on an endpoint with a chat prompt (``prompt.PROMPT_ENDPOINTS``; embeddings, images and audio
   calls are never cases) are read in batches, oldest first, with only the columns and scores the
   filter reads (``store/dataset_sources.py``, ``store.scores.scores_of_requests``); each call is
   kept when the filter selects it (every call without ``where``). Of a kept call only its id,
   time and model stay in memory. Every status is read: ``status = error`` selects failures.
3. With ``sample``: ``sample`` of them, stratified by model and by day in ``zone``
   (``sampling.py``, seeded by ``seed``); without, all of them.
4. The chosen calls are read whole, by id, and made items (``from_records.py``: prompt, context,
   answer, rating, scores; PII scrubbed unless ``keep_pii``). A call without a chat prompt (its
   deployment does not log prompts) is dropped as ``unusable``.
5. With ``dedupe``: near-duplicates are dropped (``dedupe.py``, the shared embedder: ``embedder``
   when given, else ``quality.embedder.default_embedder()``), the first of each group kept.
   When duplicates or unusable calls leave a sample short, it is topped up: another stratified
   draw from the selected calls not drawn yet (seed ``seed + round``), checked against the items
   kept so far, until ``sample`` items are kept or no call is left.

``Selection.items`` are in time order (oldest first, ties by id). Its counts add up:
``matched = len(items) + sampled_out + duplicates + unusable``; ``considered`` is the calls of
the window read; ``scrubbed`` the PII replacements in the items returned.

``items_for_requests`` and ``items_for_session`` make items of calls chosen by hand (``dataset
add``, the dashboard's "add to dataset"): a request id without a recorded call is
``NotRecorded`` (404), and so is a session without one; a request with no chat prompt is an
``InvalidRequest``, while a session's calls without one (its embeddings calls) are left out.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine

from llmgate.datasets.dedupe import DEFAULT_THRESHOLD, NearDuplicates
from llmgate.datasets.filter import parse_filter
from llmgate.datasets.from_records import item_from_record
from llmgate.datasets.item import DatasetItem
from llmgate.datasets.prompt import PROMPT_ENDPOINTS
from llmgate.datasets.sampling import stratified_sample
from llmgate.datasets.view import columns_for, needs_scores, record_view
from llmgate.errors import InvalidRequest, LlmgateError
from llmgate.monitors.rag_extract import ContextSources
from llmgate.quality.embedder import default_embedder
from llmgate.quality.embedding import TextEmbedder
from llmgate.store.call_sessions import session_calls
from llmgate.store.dataset_sources import rows_by_id, window_batches
from llmgate.store.scores import scores_of_requests

__all__ = ["NotRecorded", "Selection", "items_for_requests", "items_for_session", "select_items"]

_BATCH = 500


class NotRecorded(LlmgateError):
    """A request or session to make items of that the store has no recorded call of."""

    status_code = 404
    error_type = "invalid_request_error"
    code = "not_found"


@dataclass
class Selection:
    """What ``select_items`` selected, and how many calls each step left out (module doc)."""

    items: list[DatasetItem] = field(default_factory=list)
    considered: int = 0
    matched: int = 0
    sampled_out: int = 0
    duplicates: int = 0
    unusable: int = 0
    scrubbed: int = 0


@dataclass(frozen=True, slots=True)
class _Ref:
    id: str
    created_at: datetime
    model: str


def select_items(
    engine: Engine,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    model: str | None = None,
    where: str | None = None,
    sample: int | None = None,
    dedupe: bool = False,
    keep_pii: bool = False,
    zone: str | tzinfo = "UTC",
    seed: int = 0,
    embedder: TextEmbedder | None = None,
    sources: ContextSources | None = None,
    threshold: float = DEFAULT_THRESHOLD,
) -> Selection:
    """The items ``dataset create --from-logs`` makes (see the module doc)."""
    record_filter = parse_filter(where) if where is not None and where.strip() else None
    if sample is not None and sample < 1:
        raise InvalidRequest(f"sample: must be at least 1, got {sample}", param="sample")
    tz = ZoneInfo(zone) if isinstance(zone, str) else zone
    fields = record_filter.fields if record_filter is not None else frozenset()
    columns, with_scores = columns_for(fields), needs_scores(fields)
    selection = Selection()
    refs: list[_Ref] = []
    batches = window_batches(
        engine,
        since=since,
        until=until,
        model=model,
        endpoints=PROMPT_ENDPOINTS,
        columns=columns,
        batch_size=_BATCH,
    )
    for batch in batches:
        selection.considered += len(batch)
        scores = scores_of_requests(engine, [row["id"] for row in batch]) if with_scores else {}
        for row in batch:
            view = record_view(row, scores.get(row["id"], ()), fields)
            if record_filter is None or record_filter.matches(view):
                refs.append(_Ref(row["id"], row["created_at"], row["model"]))
    selection.matched = len(refs)
    duplicates = NearDuplicates(embedder or default_embedder(), threshold) if dedupe else None

    def stratum(ref: _Ref) -> Hashable:
        return (ref.model, ref.created_at.astimezone(tz).date())

    wanted = len(refs) if sample is None else sample
    remaining, kept, round_ = refs, [], 0
    while wanted > 0 and remaining:
        drawn = stratified_sample(remaining, wanted, stratum, seed + round_)
        taken = {ref.id for ref in drawn}
        remaining = [ref for ref in remaining if ref.id not in taken]
        for start in range(0, len(drawn), _BATCH):
            loaded = _load(engine, [ref.id for ref in drawn[start : start + _BATCH]], keep_pii, sources)
            usable = [item for _, item, _ in loaded if item is not None]
            selection.unusable += len(loaded) - len(usable)
            if duplicates is not None:
                usable, dropped = duplicates.keep_new(usable)
                selection.duplicates += dropped
            scrubbed = {request_id: count for request_id, _, count in loaded}
            selection.scrubbed += sum(scrubbed[str(item.request_id)] for item in usable)
            kept.extend(usable)
        wanted = 0 if sample is None else sample - len(kept)
        round_ += 1
    kept.sort(key=lambda item: (item.created_at, item.request_id or ""))
    selection.items = kept
    selection.sampled_out = selection.matched - len(kept) - selection.duplicates - selection.unusable
    return selection


def items_for_requests(
    engine: Engine, request_ids: Sequence[str], *, keep_pii: bool, sources: ContextSources | None = None
) -> list[DatasetItem]:
    """Items of these recorded calls, in the order given (each once); see the module doc."""
    wanted = list(dict.fromkeys(request_ids))
    found: dict[str, DatasetItem | None] = {}
    for start in range(0, len(wanted), _BATCH):
        found |= {
            request_id: item
            for request_id, item, _ in _load(engine, wanted[start : start + _BATCH], keep_pii, sources)
        }
    missing = [request_id for request_id in wanted if request_id not in found]
    if missing:
        shown = ", ".join(repr(m[:64]) for m in missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise NotRecorded(f"no recorded request with id {shown}", param="request_id")
    unusable = [request_id for request_id in wanted if found[request_id] is None]
    if unusable:
        raise InvalidRequest(
            f"request {unusable[0][:64]!r} has no chat prompt to make a case of (an embeddings, image or "
            "audio call, or a deployment that does not log prompts)",
            param="request_id",
        )
    return [item for item in (found[request_id] for request_id in wanted) if item is not None]


def items_for_session(
    engine: Engine, session_id: str, *, keep_pii: bool, sources: ContextSources | None = None
) -> list[DatasetItem]:
    """Items of every call of session ``session_id`` with a chat prompt, oldest first."""
    ids = [str(call["id"]) for call in session_calls(engine, session_id)]
    if not ids:
        raise NotRecorded(f"no recorded calls in session {session_id[:128]!r}", param="session_id")
    out: list[DatasetItem] = []
    for start in range(0, len(ids), _BATCH):
        out.extend(
            item for _, item, _ in _load(engine, ids[start : start + _BATCH], keep_pii, sources) if item
        )
    return out


def _load(
    engine: Engine, ids: Sequence[str], keep_pii: bool, sources: ContextSources | None
) -> list[tuple[str, DatasetItem | None, int]]:
    """(id, item or ``None`` without a chat prompt, PII replacements) of each recorded call of
    ``ids``, oldest first; unknown ids left out."""
    rows = rows_by_id(engine, ids)
    scores: dict[str, Any] = scores_of_requests(engine, [row["id"] for row in rows]) if rows else {}
    out: list[tuple[str, DatasetItem | None, int]] = []
    for row in rows:
        item, count = item_from_record(row, scores.get(row["id"], ()), keep_pii=keep_pii, sources=sources)
        out.append((str(row["id"]), item, count))
    return out
