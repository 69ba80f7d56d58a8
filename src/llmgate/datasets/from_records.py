"""One recorded call as a dataset item: its prompt, context, answer, rating and scores.

``item_from_record(row, scores, keep_pii=..., sources=...)`` reads a ``requests`` row (the
store's columns; ``request_json`` and ``metadata_json`` as stored text or already parsed) and
the call's scores (``store.scores.request_scores``' shape) into a ``DatasetItem``:

- ``messages``: the prompt as chat messages (``prompt.py``: chat messages as sent, a completions
  prompt, a Responses API input, an Anthropic Messages body). A call without one (an embeddings
  or image call, or a deployment that does not log prompts) gives ``None``.
- ``context``: the retrieved passages, found where the retrieval-quality monitor finds them
  (``monitors/rag_extract.find_context`` with the configured ``llmgate.monitors.rag`` sources:
  ``monitors.rag_quality.context_sources(settings.monitors.rag)``; the default sources when the
  caller has no configuration); ``None`` when the call carried none.
- ``answer``: the recorded response text (``None`` when empty).
- ``rating``: the users' combined rating of the call (``reports/feedback_rating.py``, feedback on
  the call itself), which makes the answer the export's ``reference`` when ``good``.
- ``scores``: name to value (a number, a bool or a label) of the call's own scores from every
  source; when several sources gave one name the last read wins (the monitor's after the users',
  a later score after an earlier one).

Unless ``keep_pii``, the messages, the passages and the answer are scrubbed (``pii.py``); the
second value returned is the number of replacements.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from llmgate.datasets.item import DatasetItem
from llmgate.datasets.pii import scrub, scrub_messages
from llmgate.datasets.prompt import request_messages
from llmgate.datasets.view import json_object, user_rating
from llmgate.monitors.rag_extract import HEADER_KEY, ContextSources, find_context
from llmgate.protocol.message_text import message_text

__all__ = ["item_from_record", "scores_snapshot"]

_DEFAULT_SOURCES = ContextSources()


def item_from_record(
    row: Mapping[str, Any],
    scores: Sequence[Mapping[str, Any]],
    *,
    keep_pii: bool,
    sources: ContextSources | None = None,
) -> tuple[DatasetItem | None, int]:
    """The item of one recorded call and the PII replacements made (see the module doc)."""
    request = json_object(row.get("request_json"))
    messages = request_messages(str(row.get("endpoint") or ""), request)
    if not any(message_text(m.get("content")) for m in messages):
        return None, 0
    metadata = dict(json_object(row.get("metadata_json")))
    header = metadata.pop(HEADER_KEY, None)
    found = find_context(
        request,
        metadata=metadata,
        header_context=header if isinstance(header, str) else None,
        sources=sources or _DEFAULT_SOURCES,
    )
    context = list(found[1]) if found is not None else None
    answer = row.get("response_text") or None
    replaced = 0
    if not keep_pii:
        messages, replaced = scrub_messages(messages)
        if context is not None:
            scrubbed = [scrub(passage) for passage in context]
            context = [text for text, _ in scrubbed]
            replaced += sum(count for _, count in scrubbed)
        if answer is not None:
            answer, count = scrub(answer)
            replaced += count
    created_at = row["created_at"]
    item = DatasetItem(
        request_id=str(row["id"]),
        model=str(row.get("model") or ""),
        created_at=created_at
        if isinstance(created_at, datetime)
        else datetime.fromisoformat(str(created_at)),
        messages=messages,
        session_id=row.get("session_id"),
        context=context,
        answer=answer,
        rating=user_rating(scores),
        scores=scores_snapshot(scores),
    )
    return item, replaced


def scores_snapshot(scores: Sequence[Mapping[str, Any]]) -> dict[str, float | bool | str]:
    """Name to value of the call's own scores (see the module doc)."""
    out: dict[str, float | bool | str] = {}
    for score in scores:
        value = score.get("value")
        if score.get("target_kind", "request") != "request" or value is None:
            continue
        out[str(score["name"])] = value if isinstance(value, bool | str) else float(value)
    return out
