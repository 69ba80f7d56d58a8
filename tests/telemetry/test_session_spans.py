"""A session's calls in OpenTelemetry: ``session.id`` and ``gen_ai.conversation.id`` on the request
span, one trace per session when the client sends no ``traceparent`` (sha256 of the session id), a
span link from a call to its parent call's span (the remembered one when this process exported the
parent, else the one it must have had), a session sampled whole, and calls outside a session as
before."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

from llmgate.pricing import PriceBook
from llmgate.telemetry.call_record import CallRecord
from llmgate.telemetry.metrics import CallMetrics
from llmgate.telemetry.observe import Observer
from support.otel import MemoryOtel, memory_otel
from telemetry.test_tracing import call

TRACEPARENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def session_trace(session_id: str) -> int:
    return int.from_bytes(hashlib.sha256(session_id.encode()).digest()[:16])


@pytest.fixture
def otel() -> Iterator[tuple[Observer, MemoryOtel]]:
    otel = memory_otel()
    yield Observer(PriceBook(), CallMetrics(), tracing=otel.tracing), otel
    otel.tracing.shutdown()


def server_span(observer: Observer, otel: MemoryOtel, record: CallRecord) -> ReadableSpan:
    otel.spans.clear()
    observer.prepare(record)
    assert observer.tracing is not None
    observer.tracing.flush()
    return next(s for s in otel.spans.get_finished_spans() if s.kind is SpanKind.SERVER)


def new_call(**kwargs: Any) -> CallRecord:
    return call(id=uuid.uuid4().hex, **kwargs)


def test_a_sessions_calls_share_one_trace_and_carry_the_session(otel: Any) -> None:
    observer, memory = otel
    first = new_call(session_id="agent-run-1", step="plan")
    second = new_call(session_id="agent-run-1", parent_id=first.id, step="search")
    a, b = server_span(observer, memory, first), server_span(observer, memory, second)
    assert a.context.trace_id == b.context.trace_id == session_trace("agent-run-1")
    assert a.context.span_id == int(first.id[:16], 16) and a.parent is None  # a root span, as before
    attrs = dict(b.attributes or {})
    assert attrs["session.id"] == attrs["gen_ai.conversation.id"] == "agent-run-1"
    assert (attrs["llmgate.step"], attrs["llmgate.parent.id"]) == ("search", first.id)
    # the child links to its parent's span
    (link,) = b.links
    assert (link.context.trace_id, link.context.span_id) == (a.context.trace_id, a.context.span_id)
    assert dict(link.attributes or {})["llmgate.request.id"] == first.id
    assert list(a.links) == []  # a root call links to nothing
    # another session is another trace
    other = server_span(observer, memory, new_call(session_id="agent-run-2"))
    assert other.context.trace_id == session_trace("agent-run-2") != a.context.trace_id


def test_outside_a_session_nothing_changes(otel: Any) -> None:
    observer, memory = otel
    record = new_call()
    span = server_span(observer, memory, record)
    assert format(span.context.trace_id, "032x") == record.id
    attrs = dict(span.attributes or {})
    assert not {"session.id", "gen_ai.conversation.id", "llmgate.step", "llmgate.parent.id"} & set(attrs)
    assert list(span.links) == []


def test_a_traceparent_wins_and_the_parents_remembered_span_is_linked(otel: Any) -> None:
    observer, memory = otel
    parent = new_call(session_id="s", traceparent=f"00-{TRACEPARENT_TRACE}-00f067aa0ba902b7-01")
    p = server_span(observer, memory, parent)
    assert format(p.context.trace_id, "032x") == TRACEPARENT_TRACE  # the client's trace is continued
    child = server_span(observer, memory, new_call(session_id="s", parent_id=parent.id))
    assert child.context.trace_id == session_trace("s")
    (link,) = child.links
    assert (link.context.trace_id, link.context.span_id) == (p.context.trace_id, p.context.span_id)


def test_an_unknown_parents_span_is_the_one_it_must_have_had() -> None:
    """Another process (a replica, the writer after a restart) exported the parent: the link is
    built from the ids alone."""
    parent_id = uuid.uuid4().hex
    for session, trace_id in (("run-9", session_trace("run-9")), (None, int(parent_id, 16))):
        memory = memory_otel()
        observer = Observer(PriceBook(), CallMetrics(), tracing=memory.tracing)
        span = server_span(observer, memory, new_call(session_id=session, parent_id=parent_id))
        (link,) = span.links
        assert (link.context.trace_id, link.context.span_id) == (trace_id, int(parent_id[:16], 16))
        memory.tracing.shutdown()


def test_a_session_is_sampled_whole() -> None:
    memory = memory_otel(sample_rate=0.5)
    observer = Observer(PriceBook(), CallMetrics(), tracing=memory.tracing)
    kept = {}
    for n in range(40):
        session = f"session-{n}"
        traces = set()
        for _ in range(3):
            memory.spans.clear()
            observer.prepare(new_call(session_id=session))
            memory.tracing.flush()
            traces.add(bool(memory.spans.get_finished_spans()))
        assert len(traces) == 1, session  # all of a session's calls, or none
        kept[session] = traces.pop()
    assert 0 < sum(kept.values()) < len(kept)  # and the rate still applies across sessions
    memory.tracing.shutdown()
