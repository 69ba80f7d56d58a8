"""The session rule (``protocol/session_headers.py``): where a request's session, parent and step come
from, in which order, LiteLLM's ``litellm_session_id`` taken out of the body, and the bounds every
value is held to (a bad one is an ``InvalidRequest`` naming where it was read)."""

from __future__ import annotations

from typing import Any

import pytest

from llmgate.errors import InvalidRequest
from llmgate.protocol.session_headers import (
    MAX_ID,
    NO_SESSION,
    PARENT_HEADER,
    SESSION_ALIAS,
    SESSION_HEADER,
    STEP_HEADER,
    CallSession,
    call_session,
)

PARENT = "0123456789ABCDEF0123456789abcdef"


def read(
    headers: dict[str, str] | None = None, body: dict[str, Any] | None = None, **meta: Any
) -> CallSession:
    return call_session(headers or {}, body if body is not None else {}, meta or None)


def test_nothing_said_is_no_session_and_leaves_the_body_alone() -> None:
    body = {"model": "gpt", "messages": []}
    assert call_session({"authorization": "Bearer x"}, body, None) is NO_SESSION
    assert call_session({}, body, {"tags": ["a=b"]}) == NO_SESSION
    assert body == {"model": "gpt", "messages": []}


def test_the_session_header_wins_then_its_alias_then_the_metadata_then_litellms_field() -> None:
    everything = {"session_id": "from-metadata", "litellm_session_id": "from-litellm-metadata"}
    body = {"litellm_session_id": "from-body"}
    assert read({SESSION_HEADER: "h", SESSION_ALIAS: "a"}, dict(body), **everything).session_id == "h"
    assert read({SESSION_ALIAS: "a"}, dict(body), **everything).session_id == "a"
    assert read({}, dict(body), **everything).session_id == "from-metadata"
    assert (
        read({}, dict(body), litellm_session_id="from-litellm-metadata").session_id == "from-litellm-metadata"
    )
    assert read({}, dict(body)).session_id == "from-body"
    assert read({SESSION_HEADER: ""}, dict(body), session_id="").session_id == "from-body"  # empty: absent


def test_litellms_top_level_field_never_goes_upstream() -> None:
    body = {"model": "gpt", "litellm_session_id": "run-1"}
    assert call_session({}, body, None) == CallSession("run-1", None, None)
    assert body == {"model": "gpt"}
    body = {"model": "gpt", "litellm_session_id": "ignored"}
    assert call_session({SESSION_HEADER: "run-2"}, body, None).session_id == "run-2"
    assert "litellm_session_id" not in body


def test_parent_and_step() -> None:
    got = read({SESSION_HEADER: "run", PARENT_HEADER: PARENT, STEP_HEADER: "plan"}, step="ignored")
    assert got == CallSession("run", PARENT.lower(), "plan")
    assert read(step="search").step == "search"
    assert read({PARENT_HEADER: PARENT}) == CallSession(None, PARENT.lower(), None)  # a parent alone


@pytest.mark.parametrize(
    ("headers", "metadata", "param"),
    [
        ({SESSION_HEADER: "x" * (MAX_ID + 1)}, {}, SESSION_HEADER),
        ({SESSION_HEADER: "tab\there"}, {}, SESSION_HEADER),
        ({SESSION_ALIAS: "bell\x07"}, {}, SESSION_ALIAS),
        ({STEP_HEADER: "s" * (MAX_ID + 1)}, {}, STEP_HEADER),
        ({PARENT_HEADER: "not-a-request-id"}, {}, PARENT_HEADER),
        ({PARENT_HEADER: PARENT + "0"}, {}, PARENT_HEADER),
        ({}, {"session_id": 42}, "metadata.session_id"),
        ({}, {"session_id": "line\nbreak"}, "metadata.session_id"),
        ({}, {"litellm_session_id": ["a"]}, "metadata.litellm_session_id"),
        ({}, {"step": "x" * (MAX_ID + 1)}, "metadata.step"),
    ],
)
def test_a_bad_value_is_refused_naming_where_it_was_read(
    headers: dict[str, str], metadata: dict[str, Any], param: str
) -> None:
    with pytest.raises(InvalidRequest) as raised:
        call_session(headers, {}, metadata or None)
    assert raised.value.param == param and raised.value.status_code == 400
    assert raised.value.message.startswith(param + ":")


def test_a_bad_top_level_litellm_field_is_refused_and_the_longest_name_is_accepted() -> None:
    with pytest.raises(InvalidRequest) as raised:
        call_session({}, {"litellm_session_id": 7}, None)
    assert raised.value.param == "litellm_session_id"
    longest = "é" * MAX_ID  # printable, any script
    assert read({SESSION_HEADER: longest, STEP_HEADER: longest}) == CallSession(longest, None, longest)
