"""Scores: writing feedback idempotently, who owns what is scored, and every score a request got.

- ``score_value``: a client's value as the store keeps it: a bool (``kind`` ``bool``, 1.0 / 0.0),
  a finite number (``number``) or a label of at most ``MAX_LABEL`` characters (``label``);
  anything else is ``InvalidRequest`` naming ``value``.
- ``put_score``: one row per (target, name, source): the first score inserts it, a repeat updates
  its value and comment (and ``updated_at``), a repeat with the same value and comment changes
  nothing. Two writers racing on a new row: the unique index refuses the second insert, which
  then updates the row the first one made.
- ``put_request_scores``: many numeric scores on requests from one source at once (an eval run's,
  ``eval:<run id>``), in one transaction: a new (request, name) is inserted, a changed one updated,
  an equal one left alone, and a name of the source no longer given on one of these requests
  deleted, so storing a run's scores again leaves the same rows.
- ``request_owner`` / ``session_keys``: whose request it is (``None``: no such request), and the
  keys a session's calls were made with (empty: no such session), for ``POST /v1/feedback``'s
  check that a key scores only its own.
- ``request_scores``: every score of one request, from whom: the feedback on the request and on
  its session (``scores``), and the monitor's groundedness and relevance for it
  (``monitor_samples``, source ``monitor``), in one read; ``scores_of_requests`` the same for a
  batch of requests (datasets read a window of calls' scores that way).
- ``feedback_rows``: the requests of a window users scored, with their model, for the monitor's
  feedback statistics.

Synchronous Core SQL on both stores (callers on the event loop use ``asyncio.to_thread``); a store
failure is ``StoreError``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from llmgate.errors import InvalidRequest, StoreError
from llmgate.store.db import describe_error
from llmgate.store.feedback_ratings import user_source
from llmgate.store.models import requests_table, table
from llmgate.store.score_tables import MAX_COMMENT, MAX_LABEL, MAX_NAME

__all__ = [
    "MAX_COMMENT",
    "MAX_IDS",
    "MAX_LABEL",
    "MAX_NAME",
    "MONITOR_SCORES",
    "feedback_rows",
    "put_request_scores",
    "put_score",
    "request_owner",
    "request_scores",
    "score_value",
    "scores_of_requests",
    "session_keys",
]

#: the monitor's scores of a sampled record (columns of ``monitor_samples``), shown as source ``monitor``
MONITOR_SCORES = ("groundedness", "context_relevance", "answer_relevance")
TARGET_KINDS = ("request", "session")
#: most request ids ``scores_of_requests`` reads at once (bound parameters stay well under SQLite's limit)
MAX_IDS = 1000
_COLUMNS = ("target_kind", "target_id", "name", "kind", "value_num", "value_label", "comment", "source")
_T = TypeVar("_T")
_CHUNK = 500  # request ids per IN (...) list


def score_value(value: object) -> tuple[str, float | None, str | None]:
    """``(kind, value_num, value_label)`` of a client's value; ``InvalidRequest`` (param ``value``)."""
    if isinstance(value, bool):
        return "bool", 1.0 if value else 0.0, None
    if isinstance(value, int | float):
        number = float(value)
        if not math.isfinite(number):
            raise InvalidRequest("'value' must be a finite number, a bool or a label", param="value")
        return "number", number, None
    if isinstance(value, str):
        if not value.strip() or len(value) > MAX_LABEL or "\x00" in value:
            raise InvalidRequest(f"a label 'value' must be 1 to {MAX_LABEL} characters", param="value")
        return "label", None, value
    raise InvalidRequest("'value' must be a number, a bool or a label (a string)", param="value")


def put_score(
    engine: Engine,
    *,
    target_kind: str,
    target_id: str,
    name: str,
    value: object,
    source: str,
    comment: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Insert or update the score of (target, name, source); the stored row, as a dict."""
    if target_kind not in TARGET_KINDS:
        raise ValueError(f"target_kind must be one of {TARGET_KINDS}, got {target_kind!r}")
    if not name or len(name) > MAX_NAME:
        raise InvalidRequest(f"'name' must be 1 to {MAX_NAME} characters", param="name")
    if comment is not None and len(comment) > MAX_COMMENT:
        raise InvalidRequest(f"'comment' must be at most {MAX_COMMENT} characters", param="comment")
    kind, number, label = score_value(value)
    at = now or datetime.now(UTC)
    values = {"kind": kind, "value_num": number, "value_label": label, "comment": comment}
    key = {"target_kind": target_kind, "target_id": target_id, "name": name, "source": source}

    def write(conn: Connection) -> dict[str, Any]:
        existing = _find(conn, key)
        if existing is None:
            conn.execute(sa.insert(_scores()).values(**key, **values, created_at=at, updated_at=at))
        elif any(existing[column] != wanted for column, wanted in values.items()):
            conn.execute(
                sa.update(_scores()).where(_scores().c.id == existing["id"]).values(**values, updated_at=at)
            )
        found = _find(conn, key)
        assert found is not None
        return found

    try:
        return _run(engine, write, writes=True)
    except IntegrityError:  # another writer inserted the same (target, name, source) first: update it
        return _run(engine, write, writes=True)


def put_request_scores(
    engine: Engine, source: str, rows: Sequence[Mapping[str, Any]], *, now: datetime | None = None
) -> int:
    """Set ``source``'s numeric scores on requests to ``rows`` (``target_id``, ``name``, ``value``,
    ``comment``; each (target_id, name) once); the number of rows inserted, updated or deleted."""
    at, scores = now or datetime.now(UTC), _scores()
    wanted: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        value = float(row["value"])
        if not row["name"] or len(row["name"]) > MAX_NAME or not math.isfinite(value):
            raise ValueError(f"score {row['name']!r} = {value!r}: not a storable name or number")
        comment = row.get("comment")
        values = {"kind": "number", "value_num": value, "value_label": None, "comment": comment}
        wanted[(str(row["target_id"]), str(row["name"]))] = values
    targets = sorted({target for target, _ in wanted})

    def write(conn: Connection) -> int:
        existing: dict[tuple[str, str], dict[str, Any]] = {}
        for start in range(0, len(targets), _CHUNK):
            query = sa.select(scores).where(
                scores.c.target_kind == "request",
                scores.c.target_id.in_(targets[start : start + _CHUNK]),
                scores.c.source == source,
            )
            existing |= {(r["target_id"], r["name"]): dict(r) for r in conn.execute(query).mappings()}
        new = [
            {"target_kind": "request", "target_id": t, "name": n, "source": source, **v}
            | {"created_at": at, "updated_at": at}
            for (t, n), v in wanted.items()
            if (t, n) not in existing
        ]
        if new:
            conn.execute(sa.insert(scores), new)
        changed = 0
        for key, row in existing.items():
            values = wanted.get(key)
            if values is None:
                conn.execute(sa.delete(scores).where(scores.c.id == row["id"]))
            elif any(row[column] != value for column, value in values.items()):
                conn.execute(
                    sa.update(scores).where(scores.c.id == row["id"]).values(**values, updated_at=at)
                )
            else:
                continue
            changed += 1
        return len(new) + changed

    return _run(engine, write, writes=True) if wanted else 0


def request_owner(engine: Engine, request_id: str) -> tuple[bool, str | None]:
    """(the request is recorded, the virtual key it was made with: ``None`` for the master key or none)."""
    requests = requests_table()
    query = sa.select(requests.c.key_id).where(requests.c.id == request_id)

    def read(conn: Connection) -> tuple[bool, str | None]:
        row = conn.execute(query).first()
        return (False, None) if row is None else (True, row[0])

    return _run(engine, read)


def session_keys(engine: Engine, session_id: str) -> set[str | None]:
    """The keys a session's calls were made with (``None`` for a call without one); empty: no such session."""
    requests = requests_table()
    query = sa.select(requests.c.key_id).distinct().where(requests.c.session_id == session_id)
    return _run(engine, lambda conn: set(conn.execute(query).scalars()))


def request_scores(engine: Engine, request_id: str) -> list[dict[str, Any]]:
    """Every score of request ``request_id``: feedback on it and on its session, then the monitor's."""
    return scores_of_requests(engine, [request_id]).get(request_id, [])


def scores_of_requests(engine: Engine, request_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """``request_scores`` of many requests in one read (at most ``MAX_IDS`` ids): request id to its
    scores (feedback on it and on its session, oldest first, then the monitor's); a request without
    any has no entry."""
    ids = list(dict.fromkeys(request_ids))
    if len(ids) > MAX_IDS:
        raise ValueError(f"at most {MAX_IDS} request ids at a time, got {len(ids)}")
    if not ids:
        return {}
    requests, samples, scores = requests_table(), table("monitor_samples"), _scores()
    sessions = sa.select(requests.c.id, requests.c.session_id).where(
        requests.c.id.in_(ids), requests.c.session_id.is_not(None)
    )
    monitor = sa.select(
        samples.c.record_id, samples.c.sampled_at, *(samples.c[n] for n in MONITOR_SCORES)
    ).where(samples.c.record_id.in_(ids))

    def read(conn: Connection) -> dict[str, list[dict[str, Any]]]:
        session_of = {row[0]: row[1] for row in conn.execute(sessions)}
        members: dict[str, list[str]] = {}
        for request_id, session in session_of.items():
            members.setdefault(session, []).append(request_id)
        targets = [sa.and_(scores.c.target_kind == "request", scores.c.target_id.in_(ids))]
        if members:
            targets.append(sa.and_(scores.c.target_kind == "session", scores.c.target_id.in_(list(members))))
        feedback = sa.select(scores).where(sa.or_(*targets)).order_by(scores.c.created_at, scores.c.id)
        found: dict[str, list[dict[str, Any]]] = {}
        for row in conn.execute(feedback).mappings():
            owners = [row["target_id"]] if row["target_kind"] == "request" else members[row["target_id"]]
            for owner in owners:
                found.setdefault(owner, []).append(_public(row))
        for sample in conn.execute(monitor).mappings():
            for name in MONITOR_SCORES:
                if sample[name] is not None:
                    found.setdefault(sample["record_id"], []).append(
                        {
                            "target_kind": "request",
                            "target_id": sample["record_id"],
                            "name": name,
                            "kind": "number",
                            "value": float(sample[name]),
                            "comment": None,
                            "source": "monitor",
                            "created_at": sample["sampled_at"],
                            "updated_at": sample["sampled_at"],
                        }
                    )
        return found

    return _run(engine, read)


def feedback_rows(
    engine: Engine,
    since: datetime,
    until: datetime,
    *,
    names: tuple[str, ...] | None = None,
    model: str | None = None,
) -> list[dict[str, Any]]:
    """The users' feedback on requests made in ``[since, until)`` (of ``model`` when given):
    ``model``, ``request_id``, ``name``, ``kind``, ``value_num`` (an eval's scores are not
    feedback; the monitor's are in ``monitor_samples``)."""
    requests, scores = requests_table(), _scores()
    query = (
        sa.select(
            requests.c.model,
            scores.c.target_id.label("request_id"),
            scores.c.name,
            scores.c.kind,
            scores.c.value_num,
        )
        .join(requests, requests.c.id == scores.c.target_id)
        .where(
            scores.c.target_kind == "request",
            user_source(scores.c.source),
            requests.c.created_at >= since,
            requests.c.created_at < until,
        )
        .order_by(requests.c.created_at, scores.c.id)
    )
    if names is not None:
        query = query.where(scores.c.name.in_(names))
    if model is not None:
        query = query.where(requests.c.model == model)
    return _run(engine, lambda conn: [dict(row) for row in conn.execute(query).mappings()])


def _scores() -> sa.Table:
    return table("scores")


def _find(conn: Connection, key: dict[str, str]) -> dict[str, Any] | None:
    scores = _scores()
    row = (
        conn.execute(sa.select(scores).where(*(scores.c[k] == v for k, v in key.items()))).mappings().first()
    )
    return None if row is None else _public(row, with_id=True)


def _public(row: Any, *, with_id: bool = False) -> dict[str, Any]:
    """A ``scores`` row as the API shows it: ``value`` a number, a bool or the label."""
    kind = row["kind"]
    value: Any = row["value_label"] if kind == "label" else row["value_num"]
    if kind == "bool":
        value = bool(value)
    out = {name: row[name] for name in _COLUMNS if name not in ("value_num", "value_label")}
    out |= {"value": value, "created_at": row["created_at"], "updated_at": row["updated_at"]}
    if with_id:
        out |= {"id": row["id"], "value_num": row["value_num"], "value_label": row["value_label"]}
    return out


def _run(engine: Engine, work: Callable[[Connection], _T], *, writes: bool = False) -> _T:
    try:
        with engine.begin() if writes else engine.connect() as conn:
            return work(conn)
    except IntegrityError:
        raise
    except (SQLAlchemyError, OSError) as exc:
        raise StoreError(f"store {'write' if writes else 'read'} failed: {describe_error(exc)}") from exc
