"""Records that cannot be stored as they are: stored degraded, counted, alerted; no other record touched.

A record can defeat the pipeline in three places: pickling it for the writer process or turning
it into a row (a body nested deeper than the JSON encoder or pickle go, a value ``to_row`` trips
on), and inserting the row (a value the database refuses: a lone surrogate, an integer past 64
bits; a NUL character, which PostgreSQL's text refuses, becomes U+FFFD in ``store/records.py``
instead). Either way the recorder isolates that one record (one by one when preparing; by
bisecting a batch the store refused) and stores it degraded: every column that identifies and
charges the call (id, time, endpoint, model, deployment, key, team, user, status,
tokens, cost, latency, what the response cache did and saved, the canary and its arm, the session,
parent call and step) is kept, and the bodies (request, response, tool calls, metadata, error text,
attempts) are replaced by one marker saying why::

    request_json = {"llmgate_degraded": "<why>"}

so ``llmgate logs``, spend reports and budgets still see the call. When even that row is refused,
a strict form (strings cleaned and cut short, numbers the store cannot hold dropped) is tried.
Each degraded record is counted (``llmgate_records_degraded_total``) and raises a
``recorder.record_degraded`` alert, at most one a minute with the count since the last in its
details.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson

from llmgate.pricing import PriceBook
from llmgate.telemetry.alerts import Alert, Sink, raise_alert_sync
from llmgate.telemetry.call_record import (
    CACHE_HITS,
    CallRecord,
    cache_columns,
    canary_columns,
    outcome_columns,
    session_columns,
    to_row,
)

if TYPE_CHECKING:
    from sqlalchemy import Engine

log = logging.getLogger("llmgate.recording.recorder")

Row = dict[str, Any]

#: the key of the marker that replaces a degraded record's request body
DEGRADED_KEY = "llmgate_degraded"
#: columns a degraded row keeps (everything else is a body, and is dropped)
KEPT = frozenset(
    {
        "id",
        "created_at",
        "endpoint",
        "model",
        "deployment",
        "provider",
        "upstream_model",
        "auth_identity",
        "user",
        "stream",
        "status",
        "status_code",
        "error_type",
        "finish_reason",
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "cached_tokens",
        "reasoning_tokens",
        "tokens_estimated",
        "cost_usd",
        "cost_unknown",
        "latency_ms",
        "ttft_ms",
        "attempts",
        "prompt_hash",
        "prompt_chars",
        "response_chars",
        "tags_json",
        "key_id",
        "team_id",
        "cache_hit",
        "cache",
        "cache_key",
        "cache_similarity",
        "saved_usd",
        "canary_id",
        "arm",
        "session_id",
        "parent_id",
        "step",
    }
)
#: the strict form: strings cut to this many characters, integers within a signed 64-bit column
_MAX_TEXT = 256
_MAX_INT = 2**63 - 1
_MAX_COST = Decimal(10) ** 12
_REQUIRED_STR = ("endpoint", "model", "status")
#: at most one alert in this many seconds (the counter counts every record)
ALERT_EVERY_S = 60.0


def reason_of(exc: BaseException, where: str) -> str:
    """A short, value-free reason: ``<where> (<ExceptionType>: <first line, cut>)``."""
    lines = str(exc).strip().splitlines()
    first = lines[0][:120] if lines else ""
    return f"{where} ({type(exc).__name__}: {first})" if first else f"{where} ({type(exc).__name__})"


def marker(reason: str) -> str:
    return orjson.dumps({DEGRADED_KEY: reason[:300]}).decode()


def is_degraded(row: Mapping[str, Any]) -> bool:
    value = row.get("request_json")
    return isinstance(value, str) and value.startswith('{"' + DEGRADED_KEY)


def degraded_row(row: Mapping[str, Any], reason: str, strict: bool = False) -> Row:
    """``row`` with its bodies replaced by the marker; ``strict`` also cleans what is kept."""
    out: Row = {key: value for key, value in row.items() if key in KEPT}
    if strict:
        out = {key: _clean(key, value) for key, value in out.items()}
        out.pop("tags_json", None)
        out["id"] = _text(row.get("id"), 32) or "0" * 32
        created = row.get("created_at")
        out["created_at"] = created if isinstance(created, datetime) else datetime.now(UTC)
        for key in _REQUIRED_STR:
            out[key] = out.get(key) or ("error" if key == "status" else "")
        if not isinstance(out.get("status_code"), int):
            out["status_code"] = 0
        if not isinstance(out.get("latency_ms"), float | int):
            out["latency_ms"] = 0.0
        for name, width in (("cache", 16), ("arm", 16), ("parent_id", 32)):  # VARCHAR(n) on PostgreSQL
            if out.get(name) is not None:
                out[name] = out[name][:width]
        cost = row.get("cost_usd")
        if cost is not None and out.get("cost_usd") is None:
            out["cost_unknown"] = True  # the cost could not be stored: say so rather than 0
    out["request_json"] = marker(reason)
    return out


def degraded_call_row(call: CallRecord, prices: PriceBook, reason: str) -> Row:
    """The degraded row of a call ``to_row`` failed on: priced from the response, bodies dropped."""
    stripped = dataclasses.replace(call, request={DEGRADED_KEY: reason}, metadata=None)
    try:
        row = to_row(stripped, prices)
    except Exception:  # the response or the tags are the trouble too: what the call itself says
        row = _bare_row(call)
    return degraded_row(row, reason)


def _bare_row(call: CallRecord) -> Row:
    try:
        tags = orjson.dumps(call.tags).decode() if call.tags else None
    except (TypeError, orjson.JSONEncodeError):
        tags = None
    return {
        "id": call.id,
        "created_at": call.created_at,
        "endpoint": call.endpoint,
        "model": call.model,
        **outcome_columns(call),
        **cache_columns(call),
        **canary_columns(call),
        **session_columns(call),
        "cost_usd": Decimal(0) if call.cache in CACHE_HITS else None,  # a hit called no upstream
        "cost_unknown": True,
        "latency_ms": round(call.latency_ms, 3),
        "ttft_ms": round(call.ttft_ms, 3) if call.ttft_ms is not None else None,
        "attempts": len(call.attempts),
        "tags_json": tags,
        "key_id": call.key_id,
        "team_id": call.team_id,
    }


def _text(value: Any, limit: int = _MAX_TEXT) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    text = text.replace("\x00", "")[:limit]
    return text.encode("utf-8", "replace").decode("utf-8")  # lone surrogates, which no store takes


def _clean(key: str, value: Any) -> Any:
    if value is None or isinstance(value, bool | datetime):
        return value
    if isinstance(value, int):
        return value if -_MAX_INT <= value <= _MAX_INT else None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return value if value.is_finite() and abs(value) < _MAX_COST else None
    return _text(value)


class DegradedAlerts:
    """``on_degraded`` for a ``Recorder``: a ``recorder.record_degraded`` alert, the first at once,
    then at most one every ``every_s`` (carrying the count since the last). Thread-safe; the alert
    is stored and sent from a short-lived thread, so the caller never waits on a webhook."""

    def __init__(
        self,
        sinks: Sequence[Sink],
        engine: Callable[[], Engine | None] | None = None,
        *,
        every_s: float = ALERT_EVERY_S,
    ) -> None:
        self._sinks = list(sinks)
        self._engine = engine
        self._every = every_s
        self._lock = threading.Lock()
        self._last = -math.inf
        self._unreported = 0

    def __call__(self, record_id: str, reason: str) -> None:
        with self._lock:
            self._unreported += 1
            now = time.monotonic()
            if now - self._last < self._every:
                return
            self._last = now
            count, self._unreported = self._unreported, 0
        alert = Alert(
            source="recorder",
            kind="recorder.record_degraded",
            severity="warning",
            title="A record could not be stored as it was; it was stored degraded (bodies replaced)",
            details={"record_id": record_id, "reason": reason, "degraded_since_last_alert": count},
        )
        threading.Thread(target=self._send, args=(alert,), name="llmgate-alert", daemon=True).start()

    def _send(self, alert: Alert) -> None:
        engine = None
        try:
            engine = self._engine() if self._engine is not None else None
            if engine is not None:  # the writer may not have made the tables yet
                from llmgate.store.migrate import upgrade  # alembic: only when an alert is raised

                upgrade(engine)
        except Exception:  # no store to keep it in (raise_alert_sync says so): the sinks still get it
            pass
        raise_alert_sync(alert, engine=engine, sinks=self._sinks)
