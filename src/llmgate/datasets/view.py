"""The record view: a recorded call and its scores as the fields ``--where`` filters on.

``record_view(row, scores, fields)`` maps each field name of the filter language (``filter.py``
documents them for users) to its value: ``None`` (or no entry) when the call has none, a tuple
when it has several (two users' thumbs), else one ``str``, ``float``/``int`` or ``bool``. ``row``
is a ``requests`` row (the store's column names, plus ``key_alias``, the alias of its key) and
``scores`` the call's scores as ``store.scores.request_scores`` gives them (``target_kind``,
``name``, ``kind``, ``value``, ``source``): the feedback on the call (``feedback.NAME``,
``rating``), on its session (``session_feedback.NAME``), and the monitor's and evals' scores.
Only the fields asked for are computed, so a filter on ``model`` never parses a request body;
``columns_for(fields)`` names the columns those fields read, ``needs_scores`` whether it reads
scores.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from llmgate.datasets.prompt import prompt_text, request_messages
from llmgate.reports.feedback_rating import Rating, combined_rating, is_user_source, rating_of
from llmgate.store.scores import MONITOR_SCORES

__all__ = [
    "MONITOR_FIELDS",
    "NUMERIC_FIELDS",
    "PLAIN_FIELDS",
    "PREFIXES",
    "SCORE_FIELDS",
    "TEXT_FIELDS",
    "columns_for",
    "is_call_feedback",
    "json_object",
    "needs_scores",
    "record_view",
    "score_rating",
    "user_rating",
]

#: field name -> the ``requests`` column it reads (``key`` also reads ``key_alias``)
PLAIN_FIELDS: dict[str, str] = {
    "model": "model",
    "deployment": "deployment",
    "provider": "provider",
    "upstream_model": "upstream_model",
    "endpoint": "endpoint",
    "status": "status",
    "status_code": "status_code",
    "error_type": "error_type",
    "finish_reason": "finish_reason",
    "user": "user",
    "team": "team_id",
    "key": "key_id",
    "latency_ms": "latency_ms",
    "ttft_ms": "ttft_ms",
    "cost_usd": "cost_usd",
    "prompt_tokens": "prompt_tokens",
    "completion_tokens": "completion_tokens",
    "total_tokens": "total_tokens",
    "cached_tokens": "cached_tokens",
    "reasoning_tokens": "reasoning_tokens",
    "stream": "stream",
    "session_id": "session_id",
    "parent_id": "parent_id",
    "step": "step",
    "cache": "cache",
    "canary": "canary_id",
    "arm": "arm",
}
NUMERIC_FIELDS = frozenset(
    {
        "status_code",
        "latency_ms",
        "ttft_ms",
        "cost_usd",
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "cached_tokens",
        "reasoning_tokens",
    }
)
#: the prompt's words (every message) and the answer's
TEXT_FIELDS = ("prompt", "response")
#: the monitors' scores, by their bare names (``monitor_samples``' columns)
MONITOR_FIELDS = MONITOR_SCORES
#: ``PREFIX.NAME`` fields; a bare ``feedback``, ``session_feedback`` or ``score`` is every name's values
PREFIXES = ("tag", "metadata", "feedback", "session_feedback", "score")
#: fields whose values are scores: a rating word (``up``, ``bad``...) compares by what it rates
SCORE_FIELDS = frozenset({"rating", "feedback", "session_feedback", "score", *MONITOR_FIELDS})


def columns_for(fields: Iterable[str]) -> set[str]:
    """The ``requests`` columns the view of ``fields`` reads (``key_alias`` from ``api_keys``)."""
    out: set[str] = set()
    for field in fields:
        head = field.partition(".")[0]
        if field in PLAIN_FIELDS:
            out.add(PLAIN_FIELDS[field])
            if field == "key":
                out.add("key_alias")
        elif field == "prompt":
            out |= {"endpoint", "request_json"}
        elif field == "response":
            out.add("response_text")
        elif head == "tag":
            out.add("tags_json")
        elif head == "metadata":
            out.add("metadata_json")
    return out


def needs_scores(fields: Iterable[str]) -> bool:
    """Whether the view of ``fields`` reads the call's scores."""
    return any(f.partition(".")[0] in SCORE_FIELDS for f in fields)


def json_object(value: Any) -> dict[str, Any]:
    """A stored JSON object column (text, or already parsed) as a dict; ``{}`` for anything else."""
    if isinstance(value, str | bytes):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}


def score_rating(score: Mapping[str, Any]) -> Rating | None:
    """The rating (``good`` / ``bad``) a score as ``request_scores`` shows it gives, or ``None``."""
    value = score.get("value")
    if isinstance(value, bool):
        return rating_of("bool", 1.0 if value else 0.0, None)
    if isinstance(value, int | float):
        return rating_of("number", float(value), None)
    if isinstance(value, str):
        return rating_of("label", None, value)
    return None


def is_call_feedback(score: Mapping[str, Any]) -> bool:
    """Whether a score is a user's feedback on the call itself (not on its session)."""
    return score.get("target_kind", "request") == "request" and is_user_source(str(score.get("source", "")))


def user_rating(scores: Sequence[Mapping[str, Any]]) -> Rating | None:
    """The users' combined rating of a call (``reports/feedback_rating.py``), from its scores: the
    feedback on the call itself (feedback on a session is not its calls', as in the reports)."""
    return combined_rating(score_rating(s) for s in scores if is_call_feedback(s))


def record_view(
    row: Mapping[str, Any], scores: Sequence[Mapping[str, Any]], fields: Iterable[str] | None = None
) -> dict[str, Any]:
    """The filter's view of one call (see the module doc); every known field when ``fields`` is None."""
    wanted = set(fields) if fields is not None else _every_field(row, scores)
    view: dict[str, Any] = {}
    tags: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    for field in wanted:
        head, _, name = field.partition(".")
        if field in PLAIN_FIELDS:
            view[field] = _plain(row, field)
        elif field == "prompt":
            request = json_object(row.get("request_json"))
            view[field] = prompt_text(request_messages(str(row.get("endpoint") or ""), request)) or None
        elif field == "response":
            view[field] = row.get("response_text") or None
        elif field == "rating":
            view[field] = user_rating(scores)
        elif field in MONITOR_FIELDS:
            view[field] = _values(
                s["value"] for s in scores if s["name"] == field and s["source"] == "monitor"
            )
        elif head in ("feedback", "score", "session_feedback"):
            target = "session" if head == "session_feedback" else "request"
            view[field] = _values(
                s["value"]
                for s in scores
                if (not name or s["name"] == name)
                and s.get("target_kind", "request") == target
                and (head == "score" or is_user_source(str(s.get("source", ""))))
            )
        elif head == "tag":
            tags = json_object(row.get("tags_json")) if tags is None else tags
            view[field] = _scalar(tags.get(name))
        elif head == "metadata":
            metadata = json_object(row.get("metadata_json")) if metadata is None else metadata
            view[field] = _scalar(_path(metadata, name))
    return view


def _plain(row: Mapping[str, Any], field: str) -> Any:
    value = row.get(PLAIN_FIELDS[field])
    if field == "key":
        ids = tuple(v for v in (value, row.get("key_alias")) if v)
        return ids or None
    if field in NUMERIC_FIELDS and value is not None and not isinstance(value, int | float):
        return float(value)  # Decimal money
    return value


def _values(values: Iterable[Any]) -> Any:
    found = tuple(v for v in values if v is not None)
    return None if not found else found[0] if len(found) == 1 else found


def _scalar(value: Any) -> Any:
    """A JSON value as the filter compares it: objects and lists as their JSON text."""
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return value


def _path(data: Mapping[str, Any], name: str) -> Any:
    """``metadata.a.b``: the key ``a.b`` if there is one, else ``a`` then ``b`` inside it."""
    if name in data:
        return data[name]
    head, dot, rest = name.partition(".")
    inner = data.get(head)
    return _path(inner, rest) if dot and isinstance(inner, Mapping) else None


def _every_field(row: Mapping[str, Any], scores: Sequence[Mapping[str, Any]]) -> set[str]:
    fields = {*PLAIN_FIELDS, *TEXT_FIELDS, *MONITOR_FIELDS, "rating", "feedback", "session_feedback", "score"}
    fields |= {f"tag.{name}" for name in json_object(row.get("tags_json"))}
    fields |= {f"metadata.{name}" for name in json_object(row.get("metadata_json"))}
    for s in scores:
        on_call = s.get("target_kind", "request") == "request"
        if on_call:
            fields.add(f"score.{s['name']}")
        if is_user_source(str(s.get("source", ""))):
            fields.add(f"{'feedback' if on_call else 'session_feedback'}.{s['name']}")
    return fields
