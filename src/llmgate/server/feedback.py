"""Giving feedback: the body of a feedback post, who may score what, and writing the score.

``POST /v1/feedback`` (``routes/feedback.py``, raw ASGI) and ``POST /admin/feedback``
(``routes/admin_feedback.py``) both go through ``give_feedback``. The body is
``{request_id | session_id, name, value, comment?}`` (``parse_feedback``: exactly one target; a
name of 1 to 64 characters; a number, a bool or a label of at most 128 characters; a comment of at
most 2,000; anything else is 400 naming the field). Who may score what (``check_owner``):

- the master key and admin keys: any request or session;
- a virtual key: a request made with that key, or a session at least one of whose calls was
  (403 otherwise);
- on a gateway without a master key, an anonymous caller: the requests made without a key.

A request or session that is not recorded is 404, after waiting up to ``RECORD_WAIT_S`` for it:
the gateway records a call in the background, a fraction of a second after answering it, and a
client that posts feedback as soon as it has the answer must not be told the call does not exist.
The score's source is ``master``, ``key:<id>``
or ``anonymous``; a repeat of (target, name, source) updates the one row (``store/scores.py``).
The store is used from a worker thread, migrated to the newest schema the first time it is needed
(SQLAlchemy loads then, not when the gateway starts).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from llmgate.errors import InvalidRequest, LlmgateError, PermissionDenied

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from llmgate.auth.keys import Identity

__all__ = ["Feedback", "NotRecorded", "check_owner", "give_feedback", "parse_feedback", "source_of"]

MAX_NAME = 64  # as store/score_tables.py: checked here too, before the store is touched
MAX_COMMENT = 2000
MAX_LABEL = 128
MAX_ID = 256
#: how long a feedback post waits for its request (or session) to be recorded before a 404
RECORD_WAIT_S = 3.0
_RECORD_POLL_S = 0.1
_FIELDS = frozenset({"request_id", "session_id", "name", "value", "comment"})


class NotRecorded(LlmgateError):
    """No recorded request (or session) has that id."""

    status_code = 404
    error_type = "invalid_request_error"
    code = "not_found"


@dataclass(frozen=True, slots=True)
class Feedback:
    """One score to give: its target (``request`` or ``session`` and the id), name, value, comment."""

    target_kind: str
    target_id: str
    name: str
    value: Any
    comment: str | None


def parse_feedback(raw: bytes) -> Feedback:
    """The feedback a body asks for; ``InvalidRequest`` naming the field that is wrong."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidRequest("The body must be a JSON object.") from None
    if not isinstance(body, dict):
        raise InvalidRequest("The body must be a JSON object.")
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        raise InvalidRequest(f"Unknown field {unknown[0]!r}.", param=unknown[0])
    targets = [name for name in ("request_id", "session_id") if body.get(name) is not None]
    if len(targets) != 1:
        raise InvalidRequest("Give exactly one of 'request_id' and 'session_id'.", param="request_id")
    target = targets[0]
    target_id = body[target]
    if not isinstance(target_id, str) or not 0 < len(target_id) <= MAX_ID or "\x00" in target_id:
        raise InvalidRequest(f"'{target}' must be a string of 1 to {MAX_ID} characters.", param=target)
    name = body.get("name")
    if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME or "\x00" in name or not name.strip():
        raise InvalidRequest(f"'name' must be a string of 1 to {MAX_NAME} characters.", param="name")
    if "value" not in body:
        raise InvalidRequest("'value' is required: a number, a bool or a label.", param="value")
    value = body["value"]
    if not isinstance(value, bool | int | float | str) or (isinstance(value, str) and len(value) > MAX_LABEL):
        raise InvalidRequest(
            f"'value' must be a number, a bool or a label of 1 to {MAX_LABEL} characters.", param="value"
        )
    comment = body.get("comment")
    if comment is not None and (
        not isinstance(comment, str) or len(comment) > MAX_COMMENT or "\x00" in comment
    ):
        raise InvalidRequest(
            f"'comment' must be a string of at most {MAX_COMMENT} characters.", param="comment"
        )
    return Feedback(target.removesuffix("_id"), target_id, name, body["value"], comment)


def source_of(identity: Identity) -> str:
    """Who is scoring: ``key:<id>`` for a virtual key (admin or not), ``master``, or ``anonymous``."""
    if identity.key is not None:
        return f"key:{identity.key.id}"
    return "master" if identity.is_admin else "anonymous"


def check_owner(identity: Identity, target_kind: str, owners: set[str | None]) -> None:
    """Refuse (403) a caller that may not score a target whose calls were made with ``owners``."""
    if identity.is_admin:
        return
    mine = identity.key.id if identity.key is not None else None
    if mine not in owners:
        raise PermissionDenied(f"This key may score only its own {target_kind}s.")


def _give(engine: Engine, identity: Identity, feedback: Feedback) -> dict[str, Any]:
    # SQLAlchemy (the store): loads with the first feedback, never when the gateway starts
    from llmgate.store.evals import ensure_schema
    from llmgate.store.scores import put_score, request_owner, session_keys

    ensure_schema(engine)  # a no-op once the store is at the newest schema
    if feedback.target_kind == "request":
        recorded, key_id = request_owner(engine, feedback.target_id)
        owners: set[str | None] = {key_id} if recorded else set()
    else:
        owners = session_keys(engine, feedback.target_id)
    if not owners:
        param = f"{feedback.target_kind}_id"
        raise NotRecorded(
            f"No recorded {feedback.target_kind} has id {feedback.target_id[:64]!r}.", param=param
        )
    check_owner(identity, feedback.target_kind, owners)
    return put_score(
        engine,
        target_kind=feedback.target_kind,
        target_id=feedback.target_id,
        name=feedback.name,
        value=feedback.value,
        comment=feedback.comment,
        source=source_of(identity),
    )


async def give_feedback(engine: Engine, identity: Identity, raw: bytes) -> bytes:
    """Parse, check and store one feedback post; the stored score as JSON."""
    feedback = parse_feedback(raw)
    waited = 0.0
    while True:
        try:
            stored = await asyncio.to_thread(_give, engine, identity, feedback)
            break
        except NotRecorded:
            if waited >= RECORD_WAIT_S:
                raise
        await asyncio.sleep(_RECORD_POLL_S)  # its record may still be on the way to the store
        waited += _RECORD_POLL_S
    stored.pop("value_num", None)
    stored.pop("value_label", None)
    return orjson.dumps(stored)
