"""What the gateway knows about one call, and how it becomes a stored row.

The request path fills a ``CallRecord`` with what it already has — the parsed request, the raw
response bytes or stream chunks, timings, the deployment and attempts — and hands it to the
recorder. Everything that costs CPU happens later, in ``to_row`` on the recorder's background task:
parsing the answer, counting tokens with tiktoken when the upstream reported none, pricing, hashing
prompts, redacting credentials (``protocol/redact.py``).

A call the response cache answered (``cache``: ``hit`` or ``semantic-hit``) carries the replayed
answer and the deployment that first gave it, and no attempts. Its row counts tokens from that
answer as usual, costs 0 (budgets are settled from this row too) and puts what it would have cost
at today's prices in ``saved_usd`` (NULL when the price is unknown, ``cost_unknown`` as for any call).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from operator import attrgetter
from typing import Any

import orjson

from llmgate.config.deployment import Deployment, from_blob
from llmgate.errors import ProviderError
from llmgate.pricing import PriceBook, Usage, cost
from llmgate.protocol.redact import redact, redact_json, redact_text
from llmgate.store import STORED_RESPONSE
from llmgate.telemetry import media_usage, tokens
from llmgate.telemetry.answers import Parsed, error_event_columns, parse_answer
from llmgate.telemetry.prompts import PROMPT_KEYS, prompt_chars, prompt_of

CHOICE_SEPARATOR = "\n\n"
#: larger reported token counts are not believed (and could not be summed or priced safely)
MAX_TOKEN_COUNT = 2**40
#: names a client chooses that are stored and labelled (a requested model): longer ones are cut
MAX_RECORDED_NAME = 256


def bounded_name(name: str) -> str:
    """A client-chosen name cut to ``MAX_RECORDED_NAME`` characters, for records and messages."""
    return name if len(name) <= MAX_RECORDED_NAME else name[: MAX_RECORDED_NAME - 1] + "…"


def attempt_of(
    deployment: Deployment, exc: ProviderError | None, started_ms: float, latency_ms: float
) -> Attempt:
    """One try of the retry loop (``routing/attempts.py``) as the record keeps it."""
    if exc is None:  # every field in order, none by name: the request path makes one per request
        return Attempt(
            deployment.id,
            deployment.provider,
            "success",
            latency_ms,
            None,  # error_type
            200,  # status_code
            started_ms,
            deployment.upstream_model,
            deployment.model_name,
        )
    return Attempt(
        deployment.id,
        deployment.provider,
        "error",
        latency_ms,
        error_type=exc.error_type,
        status_code=exc.status_code,
        started_ms=started_ms,
        model=deployment.upstream_model,
        group=deployment.model_name,
    )


@dataclass(slots=True)
class Attempt:
    deployment: str
    provider: str
    status: str  # "success" | "error"
    latency_ms: float
    error_type: str | None = None
    status_code: int | None = None
    started_ms: float = 0.0  # from the request's arrival
    model: str = ""  # the model name sent upstream
    # the deployment's model group: a later attempt on another group is a fallback, on the same
    # group a retry (the operations report, reports/ops.py); "" in records from before it was kept
    group: str = ""

    def __reduce__(self) -> tuple[Any, ...]:
        # pickled as its values (the writer pipe, spill files): the slots dataclass default,
        # a state dict built in Python per object, took twice as long
        return (Attempt, _attempt_values(self))

    def as_dict(self) -> dict[str, Any]:
        return {
            "deployment": self.deployment,
            "provider": self.provider,
            "status": self.status,
            "latency_ms": round(self.latency_ms, 3),
            "error_type": self.error_type,
            "status_code": self.status_code,
            "started_ms": round(self.started_ms, 3),
            "model": self.model,
            "group": self.group,
        }


@dataclass(slots=True)
class CallRecord:
    id: str
    created_at: datetime
    endpoint: str
    model: str
    request: dict[str, Any]
    stream: bool
    auth_identity: str | None = None
    user: str | None = None
    tags: dict[str, str] | None = None
    key_id: str | None = None
    team_id: str | None = None
    metadata: dict[str, Any] | None = None
    deployment: Deployment | None = None
    status_code: int = 200
    error_type: str | None = None
    error_message: str | None = None
    response_body: bytes | None = None
    stream_chunks: list[bytes] = field(default_factory=list)
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    attempts: list[Attempt] = field(default_factory=list)
    traceparent: str | None = None  # the client's W3C trace context, continued by the request's span
    model_known: bool = True  # False: not a configured model (metrics count it under one label)
    #: a ``stored_responses`` row stored with this record (apis/responses_memory.py: ``remember``)
    stored_response: dict[str, Any] | None = None
    #: the response cache (cache/): "hit", "semantic-hit", "miss" or "bypass"; None: no cache for this call
    cache: str | None = None
    cache_key: str | None = None  # the entry a hit came from, or the one a miss is stored under
    cache_similarity: float | None = None  # a semantic hit's cosine similarity
    #: a canary release (routing/canaries.py): the canary that routed the call, and its arm
    #: ("stable" | "candidate"); None: no canary. Last, with defaults: a record pickled before
    #: they existed (a shorter values tuple) still loads
    canary_id: str | None = None
    arm: str | None = None
    #: the session the call joined, the earlier call it names as its parent, and its step
    #: (protocol/session_headers.py); None: not said. Last, with defaults, as the canary's
    session_id: str | None = None
    parent_id: str | None = None
    step: str | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        # Its values, naming nothing but its rebuilder (each class or function named costs a record
        # alone in its batch 1.5-8 µs of the gateway's CPU): the time in µs since the epoch, the
        # attempts as values, the deployment as its blob, the request as JSON (orjson writes a
        # body several times faster than pickle walks it) and the stream's chunks as one.
        values = list(_call_values(self))
        if isinstance(self.created_at, datetime) and self.created_at.tzinfo is UTC:
            values[_CREATED_AT] = (self.created_at - _EPOCH) // _MICROSECOND
        values[_ATTEMPTS] = [_attempt_values(attempt) for attempt in self.attempts]
        values[_DEPLOYMENT] = self.deployment.blob() if self.deployment is not None else None
        values[_REQUEST] = _packed(self.request)
        if len(self.stream_chunks) > 1:
            values[_CHUNKS] = [b"".join(self.stream_chunks)]
        return (_call_from_values, (tuple(values),))


_attempt_values = attrgetter(*(f.name for f in fields(Attempt)))
_CALL_FIELDS = tuple(f.name for f in fields(CallRecord))
_call_values = attrgetter(*_CALL_FIELDS)
_CREATED_AT, _ATTEMPTS, _DEPLOYMENT, _REQUEST, _CHUNKS = (
    _CALL_FIELDS.index(f) for f in ("created_at", "attempts", "deployment", "request", "stream_chunks")
)
_EPOCH, _MICROSECOND = datetime(1970, 1, 1, tzinfo=UTC), timedelta(microseconds=1)


def _packed(request: dict[str, Any]) -> bytes | dict[str, Any]:
    """A request body as JSON, or as it is when JSON cannot hold it (a form's file, say)."""
    try:
        return orjson.dumps(request)
    except TypeError:  # orjson.JSONEncodeError is one
        return request


def _call_from_values(values: tuple[Any, ...]) -> CallRecord:
    """``CallRecord.__reduce__``'s record (a shorter tuple: pickled before the last fields existed)."""
    fields_ = list(values)
    fields_[_ATTEMPTS] = [Attempt(*attempt) for attempt in fields_[_ATTEMPTS]]
    if isinstance(fields_[_DEPLOYMENT], bytes):  # its blob (older pickles: the deployment)
        fields_[_DEPLOYMENT] = from_blob(fields_[_DEPLOYMENT])
    if isinstance(fields_[_REQUEST], bytes):  # as JSON (older pickles, and bodies JSON cannot hold: as is)
        fields_[_REQUEST] = orjson.loads(fields_[_REQUEST])
    call = CallRecord(*fields_)
    if isinstance(call.created_at, int):
        call.created_at = _EPOCH + timedelta(microseconds=call.created_at)
    return call


def _int(value: Any) -> int | None:
    """A token count an upstream reported, if it is one (a whole number, not absurd)."""
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_TOKEN_COUNT
    return value if ok else None


def _json(value: Any) -> str | None:
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:  # nested past orjson's limit
        return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def outcome_columns(call: CallRecord) -> dict[str, Any]:
    """The columns of a row that say where a call went, for whom, and how it ended (deployment,
    caller, status), taken as they are: a stored row and a degraded one keep them alike."""
    deployment = call.deployment
    return {
        "deployment": deployment.id if deployment else None,
        "provider": deployment.provider if deployment else None,
        "upstream_model": deployment.upstream_model if deployment else None,
        "auth_identity": call.auth_identity,
        "user": call.user,
        "stream": call.stream,
        "status": "success" if call.status_code < 400 and call.error_type is None else "error",
        "status_code": call.status_code,
        "error_type": call.error_type,
    }


#: ``CallRecord.cache`` values for a call the cache answered (no upstream was called)
CACHE_HITS = frozenset({"hit", "semantic-hit"})


def cache_columns(call: CallRecord) -> dict[str, Any]:
    """What the response cache did for a call, as it said (``saved_usd`` is priced in ``to_row``)."""
    return {
        "cache_hit": call.cache in CACHE_HITS,
        "cache": call.cache,
        "cache_key": call.cache_key,
        "cache_similarity": call.cache_similarity,
    }


def fell_back(call: CallRecord) -> bool:
    """The answer came from another model group than the one the call was first sent to: a
    fallback. The first group is the first attempt's (a canary's candidate arm, or a promoted
    canary, is first sent to the candidate's group, routing/canaries.py), else the alias asked for."""
    if call.deployment is None:
        return False
    first = call.attempts[0].group if call.attempts and call.attempts[0].group else call.model
    return call.deployment.model_name != first


def canary_columns(call: CallRecord) -> dict[str, Any]:
    """The canary that routed a call and its arm (both None outside a canary)."""
    return {"canary_id": call.canary_id, "arm": call.arm}


def session_columns(call: CallRecord) -> dict[str, Any]:
    """The session a call joined, its parent call and its step (all None outside a session)."""
    return {"session_id": call.session_id, "parent_id": call.parent_id, "step": call.step}


def to_row(call: CallRecord, prices: PriceBook) -> dict[str, Any]:
    """The stored form of a call (see the ``requests`` table in ``store/models.py``)."""
    return to_row_parsed(call, prices)[0]


def call_cost(call: CallRecord, prices: PriceBook) -> tuple[Decimal | None, int | None]:
    """The cost and total tokens ``to_row`` gives ``call``, without the rest of its row (budgets
    settle with them on the request path; the record is made in the writer)."""
    if call.endpoint in media_usage.ENDPOINTS:  # priced by units, from the row's metadata
        row = to_row(call, prices)
        return row["cost_usd"], row["total_tokens"]
    parsed = parse_answer(call.endpoint, call.stream, call.response_body, call.stream_chunks)
    counted = _count(call, prices, parsed)[2]
    return (Decimal(0) if call.cache in CACHE_HITS else counted["cost_usd"]), counted["total_tokens"]


def _count(
    call: CallRecord, prices: PriceBook, parsed: Parsed
) -> tuple[str | None, str | None, dict[str, Any]]:
    """The answer's text and tool calls as stored, and the row's token and cost columns."""
    deployment = call.deployment
    response_text = CHOICE_SEPARATOR.join(parsed.texts) if parsed.texts else None
    tool_calls_json = _json(parsed.tool_calls) if parsed.tool_calls else None
    has_output = bool(response_text or parsed.tool_calls)

    usage = parsed.usage or {}
    prompt_tokens = _int(usage.get("prompt_tokens"))
    completion_tokens = _int(usage.get("completion_tokens"))
    cached = _int(_dict(usage.get("prompt_tokens_details")).get("cached_tokens"))
    reasoning = _int(_dict(usage.get("completion_tokens_details")).get("reasoning_tokens"))
    estimated = False
    count_model = deployment.upstream_model if deployment else call.model
    if prompt_tokens is None and (has_output or (call.endpoint == "embeddings" and call.status_code < 400)):
        prompt_tokens = tokens.count_prompt(count_model, call.endpoint, call.request)
        estimated = True
    if completion_tokens is None and prompt_tokens is not None:
        if call.endpoint == "embeddings":
            completion_tokens = 0
        else:
            completion_tokens = tokens.count_text(count_model, response_text or "") + (
                tokens.count_text(count_model, tool_calls_json) if tool_calls_json else 0
            )
            estimated = True
    total_tokens = _int(usage.get("total_tokens"))
    if prompt_tokens is not None and completion_tokens is not None and (estimated or total_tokens is None):
        total_tokens = prompt_tokens + completion_tokens

    cost_usd: Decimal | None = Decimal(0)
    cost_unknown = False
    if prompt_tokens is not None:
        price = prices.lookup(deployment) if deployment is not None else None
        if price is None:
            cost_usd, cost_unknown = None, True
        else:
            created = _int(usage.get("cache_creation_input_tokens")) or 0  # Anthropic's cache writes
            usage_counts = Usage(prompt_tokens, completion_tokens or 0, cached or 0, reasoning or 0, created)
            cost_usd = cost(usage_counts, price)
    columns = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": total_tokens,
        "cached_tokens": cached,
        "reasoning_tokens": reasoning,
        "tokens_estimated": estimated,
        "cost_usd": cost_usd,
        "cost_unknown": cost_unknown,
    }
    return response_text, tool_calls_json, columns


def to_row_parsed(call: CallRecord, prices: PriceBook) -> tuple[dict[str, Any], Parsed]:
    """``to_row``, with the parsed response beside it (finish reasons, response id and model)."""
    deployment = call.deployment
    parsed = parse_answer(call.endpoint, call.stream, call.response_body, call.stream_chunks)
    response_text, tool_calls_json, counted = _count(call, prices, parsed)

    prompt = prompt_of(call.endpoint, call.request)
    prompt_bytes = orjson.dumps(prompt, option=orjson.OPT_SORT_KEYS) if prompt is not None else b""
    log_prompts = deployment.log_prompts if deployment is not None else True
    request = call.request
    if not log_prompts:
        request = {k: v for k, v in request.items() if k not in PROMPT_KEYS}
    metadata = redact(call.metadata) if call.metadata else None
    row = {
        "id": call.id,
        "created_at": call.created_at,
        "endpoint": call.endpoint,
        "model": bounded_name(call.model),
        **outcome_columns(call),
        "error_message": redact_text(call.error_message) if call.error_message else None,
        "request_json": redact_json(request),  # credentials by name and by value, at any depth
        "response_text": redact_text(response_text) if log_prompts and response_text else None,
        "tool_calls_json": redact_text(tool_calls_json) if log_prompts and tool_calls_json else None,
        "finish_reason": parsed.finish_reason,
        **counted,  # tokens and cost
        "latency_ms": round(call.latency_ms, 3),
        "ttft_ms": round(call.ttft_ms, 3) if call.ttft_ms is not None else None,
        "attempts": len(call.attempts),
        "attempts_json": orjson.dumps([a.as_dict() for a in call.attempts]).decode()
        if call.attempts
        else None,
        "prompt_hash": hashlib.sha256(prompt_bytes).hexdigest() if prompt is not None else None,
        "prompt_chars": prompt_chars(prompt) if prompt is not None else None,
        "response_chars": len(response_text) if response_text is not None else None,
        "tags_json": orjson.dumps(call.tags).decode() if call.tags else None,
        "metadata_json": orjson.dumps(metadata).decode() if metadata else None,
        "key_id": call.key_id,
        "team_id": call.team_id,
        **cache_columns(call),
        "saved_usd": None,
        **canary_columns(call),
        **session_columns(call),
    }
    row.update(error_event_columns(parsed, row["status"]))  # an error event closed a 200 stream
    if call.stored_response is not None:  # inserted with the row, by the record's writer
        row[STORED_RESPONSE] = call.stored_response
    if call.endpoint in media_usage.ENDPOINTS and row["status"] == "success":  # images, audio, ...: units
        row.update(media_usage.media_columns(call, prices, metadata))
    if row["cache_hit"]:  # served from the cache: free, and saved what it would cost today
        row["saved_usd"], row["cost_usd"] = row["cost_usd"], Decimal(0)
    return row, parsed
