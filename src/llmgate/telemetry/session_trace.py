"""A session's calls as one trace, and the link from a call to its parent call's span.

A call that joins a session (``CallRecord.session_id``) and brings no ``traceparent`` is put in
the session's own trace: its trace id is the first 16 bytes of sha256(session id)
(``session_trace_id``), so every call of the session, on any replica and in any process, lands
in one trace without anything shared. A call that names its parent (``parent_id``, the parent's
request id) gets a span link to the parent's request span. That span's id is always the first 16
hex digits of the parent's request id (``tracing.py``); its trace id is what ``KnownSpans``
remembers of the parent when this process exported it, else the one it must have had without a
``traceparent`` of its own: the session's trace when the child is in a session, else the parent's
request id.

Pure logic over OpenTelemetry's ``SpanContext``; thread-safe (the recorder may export from a
worker thread). Only calls in a session or with a parent are remembered, at most ``KEPT``.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

from opentelemetry.trace import Link, SpanContext, TraceFlags

#: how many recent calls' span contexts ``KnownSpans`` keeps (the oldest go first)
KEPT = 10_000
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_REQUEST_ID_DIGITS = 32


def session_trace_id(session_id: str) -> int:
    """The trace id of a session's calls that came without a ``traceparent``: never 0."""
    return int.from_bytes(hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).digest()[:16]) or 1


class KnownSpans:
    """The request spans this process exported lately, by request id (bounded, oldest out first)."""

    def __init__(self, kept: int = KEPT) -> None:
        self._kept = kept
        self._spans: OrderedDict[str, SpanContext] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, request_id: str, context: SpanContext) -> None:
        with self._lock:
            self._spans[request_id] = context
            if len(self._spans) > self._kept:
                self._spans.popitem(last=False)

    def get(self, request_id: str) -> SpanContext | None:
        with self._lock:
            return self._spans.get(request_id)

    def parent_link(self, parent_id: str, session_id: str | None) -> Link | None:
        """The link to request ``parent_id``'s span (see the module docstring); None when the id
        is not a request id."""
        context = self.get(parent_id)
        if context is None:
            if len(parent_id) != _REQUEST_ID_DIGITS:
                return None
            try:
                digits = int(parent_id, 16)
            except ValueError:
                return None
            trace_id = session_trace_id(session_id) if session_id else digits
            span_id = int(parent_id[:16], 16) or 1
            context = SpanContext(trace_id or 1, span_id, is_remote=True, trace_flags=_SAMPLED)
        return Link(context, {"llmgate.link.type": "parent", "llmgate.request.id": parent_id})
