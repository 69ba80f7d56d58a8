"""Which session a request joins, which earlier call is its parent, and its step: one rule, one place.

An agent's run is many calls; a client groups them into a *session* and may say how they nest:

- the session: the ``x-llmgate-session-id`` header, else ``x-llmgate-session`` (its older name,
  which canary stickiness read first), else ``metadata.session_id``, else LiteLLM's
  ``litellm_session_id``: in ``metadata``, or at the top of the body as LiteLLM's docs send it
  (``extra_body``); taken out of the body there, so it is never sent upstream;
- the parent: ``x-llmgate-parent-id``, the ``x-llmgate-request-id`` of an earlier answer of this
  gateway (32 hex digits, kept lower-case);
- the step: ``x-llmgate-step``, else ``metadata.step`` (a name: ``plan``, ``search``, ``answer``).

A session id or a step is at most ``MAX_ID`` printable characters; anything else, or a parent that
is not a request id, is an ``InvalidRequest`` (400 in OpenAI's shape) whose ``param`` names where
the value was read (the header, or ``metadata.session_id``). An empty value counts as absent.

``call_session`` reads all three once per request (``Gateway.handle``); the record keeps them
(``requests.session_id``, ``parent_id``, ``step``), and canary stickiness reads the record's
session (``routing/canaries.py``), so both follow this rule. Without any of the headers, metadata
or ``litellm_session_id`` it is a few dict lookups and returns the shared ``NO_SESSION``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from llmgate.errors import InvalidRequest

__all__ = [
    "LITELLM_SESSION",
    "MAX_ID",
    "NO_SESSION",
    "PARENT_HEADER",
    "SESSION_ALIAS",
    "SESSION_HEADER",
    "STEP_HEADER",
    "CallSession",
    "call_session",
]

SESSION_HEADER = "x-llmgate-session-id"
#: the name canary stickiness read first (``sticky: session``), still accepted
SESSION_ALIAS = "x-llmgate-session"
PARENT_HEADER = "x-llmgate-parent-id"
STEP_HEADER = "x-llmgate-step"
#: LiteLLM's field (in ``metadata``, or at the top of the body)
LITELLM_SESSION = "litellm_session_id"
#: the longest session id or step name accepted (characters)
MAX_ID = 128
_REQUEST_ID = re.compile(r"[0-9a-fA-F]{32}")


class CallSession(NamedTuple):
    session_id: str | None
    parent_id: str | None
    step: str | None


NO_SESSION = CallSession(None, None, None)


def call_session(
    headers: Mapping[str, str], body: dict[str, Any], metadata: Mapping[str, Any] | None
) -> CallSession:
    """The session, parent and step a request names (see the module docstring); ``NO_SESSION``
    when it names none. ``body`` loses a top-level ``litellm_session_id``."""
    session = headers.get(SESSION_HEADER)
    alias = headers.get(SESSION_ALIAS)
    parent = headers.get(PARENT_HEADER)
    step = headers.get(STEP_HEADER)
    if not (session or alias or parent or step or metadata or LITELLM_SESSION in body):
        return NO_SESSION
    given = body.pop(LITELLM_SESSION, None)
    session_id: str | None
    if session:
        session_id = _name(session, SESSION_HEADER)
    elif alias:
        session_id = _name(alias, SESSION_ALIAS)
    else:
        session_id = _from(metadata, "session_id") or _from(metadata, LITELLM_SESSION)
        if session_id is None and given is not None and given != "":
            session_id = _name(given, LITELLM_SESSION)
    step_name = _name(step, STEP_HEADER) if step else _from(metadata, "step")
    return CallSession(session_id, _parent(parent) if parent else None, step_name)


def _from(metadata: Mapping[str, Any] | None, key: str) -> str | None:
    """``metadata[key]`` checked as a name; ``None`` when absent or empty."""
    if not metadata:
        return None
    value = metadata.get(key)
    if value is None or value == "":
        return None
    return _name(value, f"metadata.{key}")


def _name(value: Any, param: str) -> str:
    if not isinstance(value, str):
        raise InvalidRequest(f"{param}: must be a string", param=param)
    if len(value) > MAX_ID or not value.isprintable():
        raise InvalidRequest(
            f"{param}: at most {MAX_ID} printable characters (got {len(value)} characters)", param=param
        )
    return value


def _parent(value: str) -> str:
    if not _REQUEST_ID.fullmatch(value):
        raise InvalidRequest(
            f"{PARENT_HEADER}: must be the x-llmgate-request-id of an earlier call (32 hex digits)",
            param=PARENT_HEADER,
        )
    return value.lower()
