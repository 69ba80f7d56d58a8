"""Credentials never stored, never handed back.

- Secrets nested anywhere in a request body (``extra_headers.Authorization``, ``metadata.api_key``,
  any key named like a credential, any value shaped like a known key) are redacted in the stored
  record.
- An upstream error body that echoes the deployment's key reaches the client scrubbed.

Through ``llmgate serve`` (writer process, SQLite) and the official ``openai`` SDK; the upstream is
a loopback server that echoes the ``Authorization`` header it received in its error bodies.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any

import openai
import orjson
import pytest
from aiohttp import web

from llmgate.protocol.redact import REDACTED, is_secret_name, redact, redact_json, redact_text, scrub
from support.configs import MASTER_KEY
from support.fake_anthropic import FakeAnthropic
from support.served import ServedGateway
from support.upstream import serve_chat

DEPLOYMENT_KEY = "sk-deployment-secret-4f1e9c0b7a"
OPAQUE_KEY = "opaque-credential-0042"  # a key in no known format: only its exact value gives it away
LITELLM_KEY = "opaque-anthropic-credential-77"
CLIENT_SECRETS = {
    "extra_headers.Authorization": "Bearer sk-client-extra-header-0123456789",
    "extra_headers.x-api-key": "plain-header-secret-value",
    "metadata.api_key": "metadata-secret-value-xyz",
    "metadata.deep.client_secret": "deep-client-secret-value",
    "metadata.deep.accessToken": "camel-case-token-value",
    "api_key": "top-level-secret-value",
    "virtual key in a prompt": "sk-lg-" + "A" * 43,
}


class EchoingUpstream:
    """Answers every chat request with ``status`` and an error body quoting the request's headers."""

    def __init__(self) -> None:
        self.status = 401

    async def chat(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        authorization = request.headers.get("Authorization", "")
        body = {
            "error": {
                "message": f"Incorrect API key provided: {authorization}",
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_api_key",
            },
            "received": {"authorization": authorization, "api-key": authorization.removeprefix("Bearer ")},
        }
        return web.Response(status=self.status, body=orjson.dumps(body), content_type="application/json")


@pytest.fixture(scope="module")
def echoing() -> Iterator[tuple[EchoingUpstream, str]]:
    server = EchoingUpstream()
    with serve_chat(server.chat) as base:
        yield server, base


@pytest.fixture(scope="module")
def anthropic() -> Iterator[FakeAnthropic]:
    """A fake Anthropic API (served through litellm) whose 401 repeats the ``x-api-key`` it got."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = FakeAnthropic()
    server.failure = "echo_key"
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
    yield server
    asyncio.run_coroutine_threadsafe(server.close(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


@pytest.fixture(scope="module")
def served(
    echoing: tuple[EchoingUpstream, str], anthropic: FakeAnthropic, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedGateway]:
    _, base = echoing

    def upstream(name: str, key: str) -> dict[str, Any]:
        return {
            "model_name": name,
            "litellm_params": {"model": "openai/gpt-4o-mini", "api_base": base, "api_key": key},
        }

    config = {
        "model_list": [
            upstream("echoing", DEPLOYMENT_KEY),
            upstream("echoing-opaque", OPAQUE_KEY),
            {"model_name": "mock-echo", "litellm_params": {"model": "mock/echo"}},
            {
                "model_name": "claude-echoing",
                "litellm_params": {
                    "model": "anthropic/claude-sonnet-4-5",
                    "api_base": anthropic.base_url,
                    "api_key": LITELLM_KEY,
                },
            },
        ],
        "general_settings": {"master_key": MASTER_KEY},
    }
    gateway = ServedGateway(config, tmp_path_factory.mktemp("redaction")).start()
    yield gateway
    gateway.stop()


@pytest.fixture(scope="module")
def client(served: ServedGateway) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=served.url + "/v1", api_key=MASTER_KEY, max_retries=0, timeout=20) as c:
        yield c


def test_secrets_nested_in_a_body_are_redacted_in_the_record(
    served: ServedGateway, client: openai.OpenAI
) -> None:
    s = CLIENT_SECRETS
    raw = client.chat.completions.with_raw_response.create(
        model="mock-echo",
        messages=[{"role": "user", "content": f"Is {s['virtual key in a prompt']} a valid key?"}],
        max_tokens=16,
        extra_body={
            "api_key": s["api_key"],
            "extra_headers": {
                "Authorization": s["extra_headers.Authorization"],
                "x-api-key": s["extra_headers.x-api-key"],
                "X-Trace": "trace-1",
            },
            "metadata": {
                "api_key": s["metadata.api_key"],
                "team": "search",
                "deep": [
                    {"client_secret": s["metadata.deep.client_secret"]},
                    {"accessToken": s["metadata.deep.accessToken"]},
                ],
            },
        },
    )
    raw.parse()
    request_id = raw.headers["x-llmgate-request-id"]
    (row,) = served.rows([request_id])[request_id]

    stored = json.dumps(row)
    for where, secret in s.items():
        assert secret not in stored, f"{where} was stored"
    request = json.loads(row["request_json"])
    metadata = json.loads(row["metadata_json"])
    assert request["api_key"] == REDACTED
    assert request["extra_headers"] == {
        "Authorization": REDACTED,
        "x-api-key": REDACTED,
        "X-Trace": "trace-1",
    }
    assert request["messages"][0]["content"] == f"Is {REDACTED} a valid key?"
    assert request["max_tokens"] == 16  # ``*_tokens`` is not a credential
    assert metadata["api_key"] == REDACTED and metadata["team"] == "search"
    assert metadata["deep"] == [{"client_secret": REDACTED}, {"accessToken": REDACTED}]
    assert row["prompt_tokens"] and row["prompt_tokens"] > 0  # counted from what was sent


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("status", [400, 401, 403])
@pytest.mark.parametrize(("model", "key"), [("echoing", DEPLOYMENT_KEY), ("echoing-opaque", OPAQUE_KEY)])
def test_an_upstream_error_that_echoes_the_key_is_scrubbed(
    echoing: tuple[EchoingUpstream, str],
    served: ServedGateway,
    client: openai.OpenAI,
    model: str,
    key: str,
    status: int,
    stream: bool,
) -> None:
    upstream, _ = echoing
    upstream.status = status
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "hi"}], stream=stream
        )
    response = caught.value.response
    assert response.status_code == status  # the upstream's answer is relayed, ...
    assert key not in response.text  # ... without the key it echoed
    error = response.json()
    assert error["error"]["message"] == f"Incorrect API key provided: Bearer {REDACTED}"
    assert error["received"] == {"authorization": f"Bearer {REDACTED}", "api-key": REDACTED}
    request_id = response.headers["x-llmgate-request-id"]
    (row,) = served.rows([request_id])[request_id]
    assert key not in json.dumps(row)
    assert key not in served.output()


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_a_litellm_upstream_error_that_echoes_the_key_is_scrubbed(
    served: ServedGateway, client: openai.OpenAI, stream: bool
) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        client.chat.completions.create(
            model="claude-echoing", messages=[{"role": "user", "content": "hi"}], max_tokens=8, stream=stream
        )
    response = caught.value.response
    assert LITELLM_KEY not in response.text
    assert response.json()["error"]["message"] == f"this key was rejected: {REDACTED}"
    request_id = response.headers["x-llmgate-request-id"]
    (row,) = served.rows([request_id])[request_id]
    assert LITELLM_KEY not in json.dumps(row)
    assert LITELLM_KEY not in served.output()


# --- the rule itself ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["Authorization", "proxy-authorization", "api_key", "API-KEY", "x-api-key", "apiKey", "password", "secret",
     "token", "access_token", "refresh_token", "client_secret", "clientSecret", "aws_secret_access_key",
     "aws_session_token", "azure_ad_token", "Ocp-Apim-Subscription-Key", "x-goog-api-key", "private_key",
     "vertex_credentials", "cookie", "auth"],
)  # fmt: skip
def test_credential_names(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name",
    ["max_tokens", "max_completion_tokens", "prompt_tokens", "logit_bias", "top_logprobs", "author", "key",
     "cache_key", "idempotency_key", "eos_token", "stop_token_ids", "monkey", "tokens", "role", "content"],
)  # fmt: skip
def test_ordinary_names(name: str) -> None:
    assert not is_secret_name(name)


def test_redaction_reaches_into_lists_and_keeps_everything_else() -> None:
    body = {
        "messages": [{"role": "user", "content": "risk-adjusted-returns and the bearer of news"}],
        "tools": [{"function": {"parameters": {"properties": {"password": {"type": "string"}}}}}],
        "metadata": {"headers": [["Authorization", "x"], {"Cookie": "session=1"}], "n": 2.5, "ok": True},
    }
    assert redact(body) == {
        "messages": [{"role": "user", "content": "risk-adjusted-returns and the bearer of news"}],
        "tools": [{"function": {"parameters": {"properties": {"password": REDACTED}}}}],
        "metadata": {"headers": [["Authorization", "x"], {"Cookie": REDACTED}], "n": 2.5, "ok": True},
    }


def test_scrub_covers_json_escapes_and_leaves_other_bytes() -> None:
    key = "abc/def+ghi=="
    body = b'{"m": "' + key.replace("/", "\\/").encode() + b'", "raw": "\xff\xfe"}'
    assert scrub(body, [key]) == b'{"m": "[redacted]", "raw": "\xff\xfe"}'


@pytest.mark.parametrize("padding", [0, 1000], ids=["short", "long"])  # the two scanning paths
def test_key_formats_are_masked_in_any_text(padding: int) -> None:
    pad = "lorem ipsum " * padding
    keys = [
        "sk-proj-" + "a1" * 12,
        "sk-lg-" + "A" * 43,
        "sk-ant-api03-" + "z9" * 10,
        "AKIA" + "ABCDEFGHIJKLMNOP",
        "ghp_" + "x" * 36,
        "xoxb-1234567890-abc",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlLXBhcnQ",
    ]
    for key in keys:
        assert redact_text(f"{pad}key={key};{pad}") == f"{pad}key={REDACTED};{pad}"
    assert (
        redact_text(f"{pad}Authorization: Bearer abcdefghijklmnop0123")
        == f"{pad}Authorization: Bearer {REDACTED}"
    )
    ordinary = (
        f"{pad}risk-adjusted-returns-for-a-task-based-desk-top and the bearer of news, ask-questions-first"
    )
    assert redact_text(ordinary) == ordinary


@pytest.mark.parametrize("before", [0, 3, 9, 20, 60, 140])  # texts either side of the scanning paths' border
def test_a_key_is_masked_in_text_of_any_length(before: int) -> None:
    for key in ("sk-" + "q" * 16, "AKIA" + "Q" * 16, "hf_" + "a" * 30, "Bearer " + "t" * 16):
        text = "a b " * before + key
        masked = redact_text(text)
        assert key[-16:] not in masked and masked.endswith(REDACTED), (before, key)


BODIES = [
    pytest.param({"model": "m", "messages": [{"role": "user", "content": "hello there, sea"}]}, id="plain"),
    pytest.param({"messages": [{"role": "user", "content": "my key is sk-" + "k" * 24}]}, id="key-in-text"),
    pytest.param({"extra": [{"nested": {"client_secret": {"any": ["thing"]}}}]}, id="secret-name-deep"),
    pytest.param({"sk-" + "n" * 20: 1, "n": [1, 2.5, None, True]}, id="key-as-a-name"),
    pytest.param({"note": "Bearer " + "b" * 20, "accessToken": 7}, id="bearer-and-camel-name"),
    pytest.param(["top", {"password": None}], id="list-at-the-top"),
    pytest.param({"tokens": "max_tokens", "key": "a key", "stop": ["sk-"]}, id="near-misses"),
]


@pytest.mark.parametrize("body", BODIES)
def test_redact_json_writes_what_redact_gives(body: Any) -> None:
    """The record's request JSON: the same text as the redacted copy's, found without copying when
    nothing needs redacting."""
    assert redact_json(body) == orjson.dumps(redact(body)).decode()


def test_redact_json_of_what_json_cannot_hold_fails_as_writing_it_would() -> None:
    with pytest.raises(TypeError):
        redact_json({"file": b"raw bytes"})
    assert redact_json({"api_key": b"raw bytes"}) == '{"api_key":"[redacted]"}'  # redacting made it JSON
