"""Fuzzing the OpenAI endpoints of one real ``llmgate serve``, and the SSE parser the recorder uses.

Properties, whatever the body:
- llmgate never answers 5xx itself (the upstreams here are mock models that never fail, so no
  5xx is an upstream's);
- an error is OpenAI's error shape, and any answer carries ``x-llmgate-request-id``;
- every answered request is stored exactly once (read back from the SQLite store once the
  writer process has flushed): a 200 without its record breaks llmgate's first promise.

Bodies come from hypothesis: valid-ish bodies with random types in every field, random JSON,
random bytes, huge numbers, NaN-like tokens, unicode, nested structures. Runs are deterministic
(``derandomize``, no example database) and bounded (``EXAMPLES`` per endpoint and strategy family),
so the module stays within about a minute.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from llmgate.config import parse_config
from llmgate.config.deployment import build_deployments
from llmgate.pricing import PriceBook
from llmgate.telemetry.answers import parse_response, parse_stream
from llmgate.telemetry.call_record import CallRecord, to_row
from support.configs import MASTER_KEY
from support.served import ServedGateway

pytestmark = pytest.mark.slow

EXAMPLES = 150  # per endpoint
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,  # the same cases on every run: CI is deterministic
    database=None,
    deadline=None,
    phases=(Phase.explicit, Phase.generate),  # no shrinking: failures are collected, not minimised
    suppress_health_check=list(HealthCheck),
)
MODELS = ["mock-echo", "mock-tool", "mock-fixed"]
ENDPOINTS = {"chat": "/v1/chat/completions", "completions": "/v1/completions", "embeddings": "/v1/embeddings"}
CONFIG = {
    "model_list": [
        {"model_name": "mock-echo", "litellm_params": {"model": "mock/echo"}},
        {"model_name": "mock-tool", "litellm_params": {"model": "mock/tool"}},
        {
            "model_name": "mock-fixed",
            "litellm_params": {"model": "mock/fixed", "mock_response": "A fixed answer."},
        },
    ],
    "general_settings": {"master_key": MASTER_KEY},
}

# --- strategies -----------------------------------------------------------------------------

NAN_LIKE = [
    "NaN",
    "nan",
    "Infinity",
    "-Infinity",
    "inf",
    "1e999",
    "-0",
    "null",
    "undefined",
    "\u0000",
    "",
    " ",
]
HUGE = st.sampled_from([2**63, -(2**63) - 1, 2**64, 10**30, 1e308, -1e308, 5e-324, 2**53 + 1])
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    HUGE,
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.sampled_from(NAN_LIKE),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=16,
)


def body_strategies(wild: bool) -> dict[str, st.SearchStrategy[dict[str, Any]]]:
    """Bodies per endpoint: plausible ones (``wild=False``), or with any field sometimes any JSON."""

    def field(plausible: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.one_of(plausible, plausible, json_values) if wild else plausible

    text = st.text(max_size=60)
    contents = st.one_of(
        text,
        st.lists(
            st.fixed_dictionaries({"type": field(st.just("text")), "text": field(st.text(max_size=30))}),
            max_size=3,
        ),
        *([json_values] if wild else []),
    )
    message = st.fixed_dictionaries(
        {"role": field(st.sampled_from(["user", "system", "assistant", "developer"])), "content": contents},
        optional={"name": field(st.text(max_size=10))} | ({"tool_calls": json_values} if wild else {}),
    )
    messages = st.lists(field(message), min_size=0 if wild else 1, max_size=4)
    tools = st.lists(
        st.fixed_dictionaries(
            {
                "type": field(st.just("function")),
                "function": field(st.fixed_dictionaries({"name": field(st.text(max_size=10))})),
            }
        ),
        max_size=2,
    )
    common = {
        "stream": field(st.booleans()),
        "stream_options": field(st.fixed_dictionaries({"include_usage": field(st.booleans())})),
        "max_tokens": field(st.integers(min_value=1, max_value=10**6)),
        "n": field(st.integers(min_value=1, max_value=4)),
        "temperature": field(st.floats(min_value=0, max_value=2)),
        "user": field(st.text(max_size=20)),
        "metadata": field(st.dictionaries(st.text(max_size=10), json_values, max_size=4)),
        "api_key": field(st.text(max_size=20)),
    }
    model = st.one_of(st.sampled_from(MODELS), json_values) if wild else st.sampled_from(MODELS)
    prompt = st.one_of(text, st.lists(st.text(max_size=20), min_size=1, max_size=3))
    chat = st.fixed_dictionaries(
        {"model": model, "messages": field(messages)},
        optional={
            **common,
            "tools": field(tools),
            "tool_choice": field(st.sampled_from(["auto", "none", "required"])),
        },
    )
    completions = st.fixed_dictionaries({"model": model, "prompt": field(prompt)}, optional=common)
    embeddings = st.fixed_dictionaries(
        {"model": model, "input": field(prompt)},
        optional={
            "dimensions": field(st.integers(min_value=1, max_value=256)),
            "encoding_format": field(st.just("float")),
            "user": field(st.text(max_size=20)),
            "metadata": field(st.dictionaries(st.text(max_size=10), json_values, max_size=4)),
        },
    )
    return {"chat": chat, "completions": completions, "embeddings": embeddings}


PLAUSIBLE, WILD = body_strategies(wild=False), body_strategies(wild=True)
RAW_CASES = [
    b"",
    b"{",
    b"[]",
    b"null",
    b'{"model": NaN}',
    b'{"model": "mock-echo", "messages": [{"role": "user", "content": "hi"}], "max_tokens": Infinity}',
    b'{"model": "mock-echo", "messages": [{"role": "user", "content": "\\ud800"}]}',
    b'{"model": "mock-echo", "messages": [{"role": "user", "content": "hi"}], "n": 1' + b"0" * 400 + b"}",
    b'{"model": "mock-echo", "prompt": "x", "input": "x", "messages": [{"role": "user", "content": "x"}]}',
    b'{"model": "mock-echo", "model": "mock-tool", "messages": [{"role": "user", "content": "dup"}]}',
    b"\xef\xbb\xbf" + b'{"model": "mock-echo", "messages": [{"role": "user", "content": "bom"}]}',
    b'{"model": "mock-echo", "messages": [{"role": "user", "content": "\xff\xfe"}]}',
]


@st.composite
def extreme(draw: st.DrawFn, endpoint: str) -> bytes:
    """A plausible body pushed to an extreme: huge text, many items, deep nesting, odd numbers."""
    body: dict[str, Any] = dict(draw(PLAUSIBLE[endpoint]))
    field = {"chat": "messages", "completions": "prompt", "embeddings": "input"}[endpoint]
    kind = draw(st.sampled_from(["long", "many", "deep", "wide", "name", "number"]))
    sizes = {"long": [10**3, 10**4, 10**5, 10**6], "deep": [31, 32, 33, 150, 300, 520]}
    size = draw(st.sampled_from(sizes.get(kind, [10, 100, 1000, 2000])))
    if kind == "long":  # text up to 1 MB (with a key-like run in it, for the redaction's speed)
        text = "sk-" + "x" * size
        body[field] = [{"role": "user", "content": text}] if endpoint == "chat" else text
    elif kind == "many":
        body[field] = [{"role": "user", "content": "hi"}] * size if endpoint == "chat" else ["hi"] * size
    elif kind == "deep":  # 2 levels a step: around the 64-level limit, and far past it
        nested = "{}"
        for _ in range(size):
            nested = '{"a": [' + nested + "]}"
        body["metadata"] = {"deep": "__DEEP__"}
        return json.dumps(body).encode().replace(b'"__DEEP__"', nested.encode())
    elif kind == "wide":
        body["metadata"] = {f"k{i}": i for i in range(size)}
    elif kind == "name":
        body["model"] = "m" * size * 5
    else:
        number = draw(st.sampled_from([b"1e400", b"-1e400", b"1" + b"0" * 400, b"1.0e-400", b"0.1e309"]))
        name = draw(st.sampled_from(["max_tokens", "n", "temperature", "dimensions", "seed"]))
        body[name] = "__NUMBER__"
        return json.dumps(body).encode().replace(b'"__NUMBER__"', number)
    return json.dumps(body).encode()


def encoded(endpoint: str) -> st.SearchStrategy[bytes]:
    """An endpoint's bodies as bytes: plausible ones, ones with wild fields, any JSON value, raw
    bytes, a hand-written case, or an extreme one. ``json.dumps``, not orjson: it writes ints past
    64 bits."""
    return st.one_of(
        PLAUSIBLE[endpoint].map(lambda b: json.dumps(b).encode()),
        WILD[endpoint].map(lambda b: json.dumps(b).encode()),
        WILD[endpoint].map(lambda b: json.dumps(b).encode()),
        json_values.map(lambda b: json.dumps(b).encode()),
        st.binary(max_size=200),
        st.sampled_from(RAW_CASES),
        extreme(endpoint),
    )


# --- the gateway under fuzz ---------------------------------------------------------------------


@dataclass
class Run:
    """What one endpoint's run saw: statuses, request ids, and every broken property."""

    statuses: Counter[int] = field(default_factory=Counter)
    answered: dict[str, tuple[int, bytes]] = field(default_factory=dict)  # request id -> status, body
    failures: list[str] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)

    def fail(self, what: str, body: bytes, response: httpx.Response | None = None) -> None:
        seen = f" -> {response.status_code} {response.text[:300]!r}" if response is not None else ""
        self.failures.append(f"{what}: body {body[:300]!r}{seen}")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedGateway]:
    gateway = ServedGateway(CONFIG, tmp_path_factory.mktemp("fuzz")).start()
    yield gateway
    gateway.stop()


@pytest.fixture(scope="module")
def http(served: ServedGateway) -> Iterator[httpx.Client]:
    """A client with a virtual key (so limits, budgets and tags are on the path too)."""
    admin = {"Authorization": f"Bearer {MASTER_KEY}"}
    created = httpx.post(
        served.url + "/admin/keys",
        headers=admin,
        json={"alias": "fuzzer", "budget_usd": 1000, "tags": {"cost_centre": "fuzz"}},
        timeout=60,  # the admin API is built on its first request
    )
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    with httpx.Client(base_url=served.url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as client:
        yield client


def check(run: Run, body: bytes, response: httpx.Response) -> None:
    run.statuses[response.status_code] += 1
    run.sizes.append(len(body))
    if response.status_code >= 500:
        run.fail("5xx from llmgate", body, response)
    request_id = response.headers.get("x-llmgate-request-id")
    if request_id is None:
        run.fail("no x-llmgate-request-id", body, response)
    else:
        run.answered[request_id] = response.status_code, body
    if response.status_code >= 400:
        try:
            error = response.json()["error"]
            assert isinstance(error["message"], str) and isinstance(error["type"], str)
        except (ValueError, KeyError, TypeError, AssertionError):
            run.fail("error not in OpenAI's shape", body, response)
    elif response.headers.get("content-type", "").startswith("text/event-stream"):
        if b"data: " not in response.content:
            run.fail("empty stream", body, response)
    else:
        try:
            response.json()
        except ValueError:
            run.fail("200 that is not JSON", body, response)


def fuzz(served: ServedGateway, http: httpx.Client, path: str, bodies: st.SearchStrategy[bytes]) -> Run:
    run = Run()

    @FUZZ
    @given(body=bodies)
    def one(body: bytes) -> None:
        response = http.post(path, content=body, headers={"content-type": "application/json"})
        check(run, body, response)

    one()
    rows = served.rows(run.answered, timeout=30, missing_ok=True)
    for request_id, (status, body) in run.answered.items():
        stored = len(rows.get(request_id, []))
        if stored != 1:
            run.failures.append(
                f"{status} answered with {stored} records: body {body[:300]!r} ({len(body)} bytes)"
            )
    print(
        f"\n{path}: {sum(run.statuses.values())} requests, statuses {dict(sorted(run.statuses.items()))}, "
        f"largest body {max(run.sizes)} bytes, {sum(n > 100_000 for n in run.sizes)} over 100 kB"
    )
    return run


@pytest.mark.parametrize(
    ("path", "bodies"),
    [(path, encoded(endpoint)) for endpoint, path in ENDPOINTS.items()],
    ids=list(ENDPOINTS),
)
def test_no_5xx_and_every_answer_recorded_once(
    served: ServedGateway, http: httpx.Client, path: str, bodies: st.SearchStrategy[bytes]
) -> None:
    run = fuzz(served, http, path, bodies)
    assert sum(run.statuses.values()) >= EXAMPLES
    assert run.statuses[200] > EXAMPLES // 10, "too few valid bodies: the fuzz would test only refusals"
    assert not run.failures, "\n".join(run.failures[:20])


# --- the SSE parser and row building, in process -------------------------------------------------

DEPLOYMENT = build_deployments(parse_config(CONFIG))[0]


def maybe(plausible: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a plausible value, sometimes any JSON at all."""
    return st.one_of(plausible, plausible, json_values)


def some(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """An object with any of ``fields``, each mostly plausible."""
    return st.fixed_dictionaries({}, optional={name: maybe(value) for name, value in fields.items()})


tool_call_deltas = some(
    index=st.integers(-2, 3),
    id=st.text(max_size=8),
    function=some(name=st.text(max_size=8), arguments=st.text(max_size=10)),
)
deltas = some(
    content=st.text(max_size=20),
    role=st.just("assistant"),
    tool_calls=st.lists(maybe(tool_call_deltas), max_size=2),
)
choices = some(
    index=st.integers(-3, 3),
    delta=deltas,
    text=st.text(max_size=20),
    message=some(content=st.text(max_size=20), tool_calls=st.lists(json_values, max_size=2)),
    finish_reason=st.sampled_from(["stop", "length", "tool_calls"]),
)
usages = some(
    prompt_tokens=st.integers(0, 10**6),
    completion_tokens=st.integers(0, 10**6),
    total_tokens=st.integers(0, 10**6),
    prompt_tokens_details=some(cached_tokens=st.integers(0, 100)),
    completion_tokens_details=some(reasoning_tokens=st.integers(0, 100)),
)
chunk_events = some(
    id=st.text(max_size=10),
    model=st.text(max_size=10),
    object=st.just("chat.completion.chunk"),
    choices=st.lists(maybe(choices), max_size=3),
    usage=usages,
)


@st.composite
def sse_streams(draw: st.DrawFn) -> list[bytes]:
    """SSE bytes as an upstream may send them: events, junk lines, split at any byte."""
    lines = draw(
        st.lists(
            st.one_of(
                chunk_events.map(lambda e: b"data: " + json.dumps(e).encode() + b"\n\n"),
                json_values.map(lambda e: b"data: " + json.dumps(e).encode() + b"\n\n"),
                st.sampled_from([b"data: [DONE]\n\n", b": keep-alive\n\n", b"event: error\n", b"data:\n\n"]),
                st.binary(max_size=30),
            ),
            max_size=8,
        )
    )
    data = b"".join(lines)
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=4)))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


def record(endpoint: str, **kwargs: Any) -> CallRecord:
    return CallRecord(
        id="f" * 32,
        created_at=datetime.now(UTC),
        endpoint=endpoint,
        model="mock-echo",
        request={
            "model": "mock-echo",
            "messages": [{"role": "user", "content": "hi"}],
            "prompt": "hi",
            "input": "hi",
        },
        deployment=DEPLOYMENT,
        **kwargs,
    )


@FUZZ
@given(chunks=sse_streams(), endpoint=st.sampled_from(["chat/completions", "completions"]))
def test_sse_parser_and_row_never_raise(chunks: list[bytes], endpoint: str) -> None:
    parse_stream(endpoint, chunks)
    row = to_row(record(endpoint, stream=True, stream_chunks=chunks), PriceBook())
    orjson.dumps(row, default=str)


@FUZZ
@given(
    body=st.one_of(
        some(choices=st.lists(maybe(choices), max_size=3), usage=usages, id=st.text(max_size=8)),
        json_values,
    ).map(lambda b: json.dumps(b).encode())
    | st.binary(max_size=60),
    endpoint=st.sampled_from(["chat/completions", "completions", "embeddings"]),
)
def test_response_parser_and_row_never_raise(body: bytes, endpoint: str) -> None:
    parse_response(endpoint, body)
    row = to_row(record(endpoint, stream=False, response_body=body), PriceBook())
    orjson.dumps(row, default=str)


@FUZZ
@given(
    request=st.dictionaries(
        st.sampled_from(["model", "messages", "prompt", "input", "tools", "metadata"]), json_values
    )
)
def test_row_never_raises_on_any_request(request: dict[str, Any]) -> None:
    for endpoint in ("chat/completions", "completions", "embeddings"):
        call = record(
            endpoint, stream=False, response_body=b'{"choices": [{"text": "x", "message": {"content": "x"}}]}'
        )
        call.request = orjson.loads(json.dumps(request))  # as the gateway parses it (big ints are floats)
        orjson.dumps(to_row(call, PriceBook()), default=str)
