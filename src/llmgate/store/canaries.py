"""Queries and writes on canary releases: their state, their events, and the evidence their gates read.

Every function is synchronous, takes an ``Engine`` and returns plain values (``CanaryRow``, dicts),
never ORM objects; JSON columns are decoded here. Writes (``insert_canary``, ``update_canary``)
put the canary's row, its event (``canary_events``) and its audit entry (``canary.<action>``,
through ``store/audit.py``) in one transaction. At most one canary per model is active
(``running`` or ``paused``): a second is refused with ``InvalidRequest`` code ``conflict``, by a
check and, against a concurrent start, by the table's partial unique index. ``version`` grows by
one on every change; an update made from a version read earlier (``expected_version``) is refused
as a ``conflict`` when another write came first (compare-and-set in the UPDATE itself, so it holds
on SQLite and PostgreSQL alike). A store failure is ``StoreError``.

The evidence the gates read (``evidence_rows``, ``quality_rows``, ``arm_counts``) is queried in
``store/canary_evidence.py`` and offered here too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from llmgate.errors import InvalidRequest
from llmgate.store.audit import transaction as _transaction
from llmgate.store.audit import write_audit as _write_audit
from llmgate.store.canary_evidence import EVIDENCE_TEXT_CHARS as EVIDENCE_TEXT_CHARS
from llmgate.store.canary_evidence import Cursor as Cursor
from llmgate.store.canary_evidence import arm_counts as arm_counts
from llmgate.store.canary_evidence import evidence_rows as evidence_rows
from llmgate.store.canary_evidence import quality_rows as quality_rows
from llmgate.store.canary_evidence import reading
from llmgate.store.canary_tables import ACTIVE_STATUSES
from llmgate.store.key_rows import NotFound
from llmgate.store.models import table

STATUSES = ("running", "paused", "promoted", "rolled_back", "cancelled")
ACTIONS = ("start", "step", "pause", "resume", "promote", "rollback", "cancel", "evaluate")
SOURCES = ("config", "cli", "api")
#: actions the audit log does not record: the controller's routine evaluations (once a second)
UNAUDITED_ACTIONS = frozenset({"evaluate"})


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class CanaryRow:
    """One ``canaries`` row, its JSON columns decoded (``candidate_json`` is ``candidate``...)."""

    id: str
    model: str
    candidate: dict[str, Any]  # {model, deployment, system_prompt, params}
    steps: tuple[float, ...]
    gates: tuple[str, ...]
    sticky: str
    alpha: float
    min_step_requests: int
    tolerances: dict[str, float] = field(default_factory=dict)
    status: str = "running"
    step_index: int = 0
    percent: float = 0.0  # the starter sets the first step's
    source: str = "config"
    config_hash: str | None = None
    started_at: datetime = field(default_factory=_now)
    step_started_at: datetime = field(default_factory=_now)
    updated_at: datetime = field(default_factory=_now)
    ended_at: datetime | None = None
    last_evaluation: Any = None  # the gates' results, as the controller wrote them
    version: int = 1

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES


_JSON_FIELDS = {"candidate": "candidate_json", "steps": "steps_json", "gates": "gates_json"}
_JSON_FIELDS |= {"tolerances": "tolerances_json", "last_evaluation": "last_evaluation_json"}
#: what ``update_canary`` may change (the id, the model and the bookkeeping it does itself: not)
_CHANGEABLE = frozenset(f.name for f in fields(CanaryRow)) - {"id", "model", "version", "updated_at"}


def _dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _columns(values: Mapping[str, Any]) -> dict[str, Any]:
    """``CanaryRow`` fields as columns: the JSON ones encoded (``last_evaluation`` None is NULL)."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        column = _JSON_FIELDS.get(name)
        if column is None:
            out[name] = value
        else:
            out[column] = None if value is None and name == "last_evaluation" else _dumps(value)
    return out


def _row(m: Mapping[Any, Any]) -> CanaryRow:
    evaluation = m["last_evaluation_json"]
    return CanaryRow(
        id=m["id"],
        model=m["model"],
        candidate=orjson.loads(m["candidate_json"]),
        steps=tuple(float(s) for s in orjson.loads(m["steps_json"])),
        gates=tuple(orjson.loads(m["gates_json"])),
        sticky=m["sticky"],
        alpha=m["alpha"],
        min_step_requests=m["min_step_requests"],
        tolerances=orjson.loads(m["tolerances_json"]),
        status=m["status"],
        step_index=m["step_index"],
        percent=m["percent"],
        source=m["source"],
        config_hash=m["config_hash"],
        started_at=m["started_at"],
        step_started_at=m["step_started_at"],
        updated_at=m["updated_at"],
        ended_at=m["ended_at"],
        last_evaluation=orjson.loads(evaluation) if evaluation is not None else None,
        version=m["version"],
    )


def _check(kind: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ValueError(f"unknown canary {kind} {value!r} (one of {', '.join(allowed)})")


def _select(conn: Connection, canary_id: str) -> CanaryRow | None:
    canaries = table("canaries")
    found = conn.execute(sa.select(canaries).where(canaries.c.id == canary_id)).mappings().first()
    return _row(found) if found is not None else None


def _active_on(conn: Connection, model: str) -> CanaryRow | None:
    canaries = table("canaries")
    query = sa.select(canaries).where(canaries.c.model == model, canaries.c.status.in_(ACTIVE_STATUSES))
    found = conn.execute(query).mappings().first()
    return _row(found) if found is not None else None


def _event(
    conn: Connection,
    at: datetime,
    canary_id: str,
    action: str,
    actor: str,
    percent: float | None,
    details: Any,
) -> None:
    conn.execute(
        sa.insert(table("canary_events")).values(
            canary_id=canary_id,
            at=at,
            action=action,
            actor=actor,
            percent=percent,
            details_json=_dumps(details) if details else None,
        )
    )


# --- writes: the row, its event and its audit entry in one transaction ------------------------


def insert_canary(engine: Engine, row: CanaryRow, actor: str) -> CanaryRow:
    """Store a new canary (version 1, updated now) with its ``start`` event and ``canary.start``
    entry. A taken id, or an active canary on the same model already, is a ``conflict``."""
    _check("status", row.status, STATUSES)
    _check("source", row.source, SOURCES)
    if not row.steps:
        raise ValueError("a canary needs at least one step")
    at = _now()
    values = {f.name: getattr(row, f.name) for f in fields(CanaryRow)} | {"version": 1, "updated_at": at}
    shown = ("model", "candidate", "steps", "gates", "tolerances", "sticky", "alpha", "percent", "source")
    with _transaction(engine) as conn:
        if _select(conn, row.id) is not None:
            raise InvalidRequest(f"a canary with id {row.id!r} exists already", param="id", code="conflict")
        if row.active:
            other = _active_on(conn, row.model)
            if other is not None:
                raise InvalidRequest(
                    f"model {row.model!r} has an active canary already ({other.id!r}, {other.status})",
                    param="model",
                    code="conflict",
                )
        conn.execute(sa.insert(table("canaries")).values(**_columns(values)))
        details = {name: values[name] for name in shown if name != "percent"}
        _event(conn, at, row.id, "start", actor, row.percent, details)
        _write_audit(conn, at, actor, "canary.start", row.id, {name: [None, values[name]] for name in shown})
        stored = _select(conn, row.id)
    assert stored is not None
    return stored


def update_canary(
    engine: Engine,
    canary_id: str,
    *,
    actor: str,
    action: str,
    expected_version: int | None = None,
    details: Mapping[str, Any] | None = None,
    **changes: Any,
) -> CanaryRow:
    """Change a canary's fields (``CanaryRow`` names: ``status``, ``percent``, ``step_index``,
    ``last_evaluation``...), one version up, with an ``action`` event carrying ``details`` and its
    ``canary.<action>`` audit entry (none for ``evaluate``). ``expected_version`` other than the
    stored one, or a write in between, is a ``conflict``; an unknown id is ``NotFound``."""
    _check("action", action, ACTIONS)
    unknown = changes.keys() - _CHANGEABLE
    if unknown:
        raise TypeError(f"update_canary cannot change {', '.join(sorted(unknown))}")
    if "status" in changes:
        _check("status", changes["status"], STATUSES)
    for name in ("steps", "gates"):  # as a row holds them, so an unchanged value is not audited
        if name in changes:
            changes[name] = tuple(changes[name])
    canaries = table("canaries")
    with _transaction(engine) as conn:
        old = _select(conn, canary_id)
        if old is None:
            raise NotFound(f"no canary with id {canary_id!r}", param="canary")
        if expected_version is not None and expected_version != old.version:
            raise _stale(canary_id, expected_version, old.version)
        at = _now()
        values = _columns(changes) | {"version": old.version + 1, "updated_at": at}
        query = sa.update(canaries).where(canaries.c.id == canary_id, canaries.c.version == old.version)
        if conn.execute(query.values(**values)).rowcount != 1:  # another write came first
            raise _stale(canary_id, old.version, None)
        new = _select(conn, canary_id)
        assert new is not None
        _event(conn, at, canary_id, action, actor, new.percent, dict(details or {}))
        if action not in UNAUDITED_ACTIONS:
            audit: dict[str, Any] = {
                name: [getattr(old, name), value]
                for name, value in changes.items()
                if name != "last_evaluation" and getattr(old, name) != value
            }
            if details:
                audit["details"] = dict(details)
            _write_audit(conn, at, actor, f"canary.{action}", canary_id, audit)
    return new


def _stale(canary_id: str, expected: int, found: int | None) -> InvalidRequest:
    now = f"it is at version {found}" if found is not None else "it changed meanwhile"
    return InvalidRequest(
        f"canary {canary_id!r} changed since version {expected} ({now}): read it again", code="conflict"
    )


def save_evaluation(engine: Engine, canary_id: str, evaluation: Any) -> bool:
    """Keep the gates' latest results on the canary, with no version, event or audit entry (the
    controller writes this every interval; followers need not re-read). Whether the canary exists."""
    canaries = table("canaries")
    query = sa.update(canaries).where(canaries.c.id == canary_id)
    with _transaction(engine) as conn:
        result = conn.execute(query.values(**_columns({"last_evaluation": evaluation})))
    return result.rowcount == 1


# --- reads ------------------------------------------------------------------------------------


def get_canary(engine: Engine, ref: str) -> CanaryRow | None:
    """The canary whose id is ``ref``; else, ``ref`` taken as a model, its active canary, else its
    latest one."""
    canaries = table("canaries")
    latest = (
        sa.select(canaries)
        .where(canaries.c.model == ref)
        .order_by(canaries.c.started_at.desc(), canaries.c.id.desc())
        .limit(1)
    )
    with reading(engine) as conn:
        found = _select(conn, ref) or _active_on(conn, ref)
        if found is None:
            m = conn.execute(latest).mappings().first()
            found = _row(m) if m is not None else None
    return found


def list_canaries(engine: Engine, *, active_only: bool = False, model: str | None = None) -> list[CanaryRow]:
    """Canaries in the order they started, only the active ones or one model's if asked."""
    canaries = table("canaries")
    query = sa.select(canaries).order_by(canaries.c.started_at, canaries.c.id)
    if active_only:
        query = query.where(canaries.c.status.in_(ACTIVE_STATUSES))
    if model is not None:
        query = query.where(canaries.c.model == model)
    with reading(engine) as conn:
        return [_row(m) for m in conn.execute(query).mappings()]


def canary_events(
    engine: Engine, canary_id: str, *, actions: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """A canary's events in the order they happened: id, canary_id, at, action, actor, percent,
    details (decoded; ``{}`` when none)."""
    events = table("canary_events")
    query = sa.select(events).where(events.c.canary_id == canary_id).order_by(events.c.id)
    if actions is not None:
        query = query.where(events.c.action.in_(list(actions)))
    with reading(engine) as conn:
        rows = [dict(m) for m in conn.execute(query).mappings()]
    for row in rows:
        encoded = row.pop("details_json")
        row["details"] = orjson.loads(encoded) if encoded else {}
    return rows


def active_version(engine: Engine) -> int:
    """A number that grows on every canary write (the sum of every canary's version: each insert
    adds at least one, each update one), and only then: a follower re-reads the canaries when it
    moved. ``save_evaluation`` does not move it."""
    canaries = table("canaries")
    with reading(engine) as conn:
        return int(conn.execute(sa.select(sa.func.coalesce(sa.func.sum(canaries.c.version), 0))).scalar_one())
