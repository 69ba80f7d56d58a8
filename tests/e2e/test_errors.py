"""Bad input and failing upstreams: OpenAI-shaped errors with the right status, every one
recorded, and nothing secret or internal in any body."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import orjson
import pytest

from e2e.test_proxy import MESSAGES, client_for, records
from support.configs import MASTER_KEY, upstream_config
from support.gateway import RunningGateway
from support.upstream import FakeUpstream, Fault

SECRETS = (MASTER_KEY, "sk-upstream-secret-key")
AUTH = {"Authorization": f"Bearer {MASTER_KEY}"}


def assert_openai_error(
    response: httpx.Response, status: int, error_type: str | None = None
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) >= {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    if error_type is not None:
        assert error["type"] == error_type
    for secret in SECRETS:
        assert secret not in response.text
    assert "Traceback" not in response.text and 'File "' not in response.text
    return error


def chat(gateway: RunningGateway, content: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    return gateway.post(
        "/v1/chat/completions",
        content=content,
        headers={"Content-Type": "application/json", **(AUTH if headers is None else headers)},
    )


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b"{not json", None),
        (b"", None),
        (b"[1, 2]", None),
        (b'{"messages": [{"role": "user", "content": "hi"}]}', "model"),
        (b'{"model": 42, "messages": []}', "model"),
        (b'{"model": "gpt-4o-mini"}', "messages"),
        (b'{"model": "gpt-4o-mini", "messages": "hello"}', "messages"),
        (b'{"model": "gpt-4o-mini", "messages": [{"content": "no role"}]}', "messages[0]"),
        (
            b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "stream": "yes"}',
            "stream",
        ),
    ],
)
def test_invalid_bodies_get_400(
    gateway: RunningGateway, upstream: FakeUpstream, body: bytes, param: str | None
) -> None:
    error = assert_openai_error(chat(gateway, body), 400, "invalid_request_error")
    assert error["param"] == param
    assert upstream.received == []
    (row,) = records(gateway)
    assert row["status"] == "error" and row["status_code"] == 400


def test_sdk_sees_bad_request(gateway: RunningGateway) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client_for(gateway).chat.completions.create(model="gpt-4o-mini", messages=[])
    assert caught.value.status_code == 400


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer sk-wrong"}, {"Authorization": "Basic abc"}]
)
def test_missing_or_wrong_key_gets_401(
    gateway: RunningGateway, upstream: FakeUpstream, headers: dict[str, str]
) -> None:
    body = orjson.dumps({"model": "gpt-4o-mini", "messages": MESSAGES})
    assert_openai_error(chat(gateway, body, headers), 401, "authentication_error")
    assert_openai_error(gateway.get("/v1/models", headers=headers), 401)
    assert upstream.received == []
    assert records(gateway) == []  # counted in llmgate_auth_failures_total, never stored


def test_sdk_wrong_key(gateway: RunningGateway) -> None:
    with pytest.raises(openai.AuthenticationError):
        client_for(gateway, key="sk-nope").chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)


def test_unknown_model_gets_404(gateway: RunningGateway) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client_for(gateway).chat.completions.create(model="gpt-9-ultra", messages=MESSAGES)
    assert caught.value.code == "model_not_found"
    (row,) = records(gateway)
    assert (row["model"], row["status_code"], row["deployment"]) == ("gpt-9-ultra", 404, None)


def test_body_over_limit_gets_413(upstream: FakeUpstream, gateway_factory: Any) -> None:
    gw = gateway_factory(upstream_config(upstream, max_request_body_bytes=64 * 1024))
    big = orjson.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x" * 200_000}]})
    assert_openai_error(chat(gw, big), 413)

    def chunks() -> Any:  # no Content-Length: the limit holds while reading
        for _ in range(100):
            yield b"x" * 10_000

    response = gw.post("/v1/chat/completions", content=chunks(), headers=AUTH)
    assert_openai_error(response, 413)
    assert upstream.received == []
    assert [r["status_code"] for r in records(gw)] == [413, 413]


@pytest.mark.parametrize(
    ("fault", "status"),
    [
        (Fault(status=500), 502),
        (Fault(status=503), 502),
        (Fault(malformed=True), 502),
        (Fault(hang_s=8), 504),
    ],
)
def test_upstream_failures_map_to_5xx(
    upstream: FakeUpstream, gateway_factory: Any, fault: Fault, status: int
) -> None:
    # One attempt and no fallback, so the failure itself reaches the client (see test_fallbacks).
    gateway = gateway_factory({**upstream_config(upstream), "router_settings": {"num_retries": 0}})
    upstream.fail_next(fault)
    body = orjson.dumps({"model": "gpt-4o-mini", "messages": MESSAGES})
    error = assert_openai_error(chat(gateway, body), status)
    assert "fake upstream error" not in error["message"]  # 5xx bodies of the upstream are not relayed
    (row,) = records(gateway)
    assert row["status"] == "error" and row["status_code"] == status
    assert row["deployment"] is not None and row["attempts"] == 1


def test_upstream_unreachable_gets_503(upstream: FakeUpstream, gateway_factory: Any) -> None:
    from support.gateway import free_port

    config = upstream_config(upstream)
    config["model_list"][0]["litellm_params"]["api_base"] = f"http://127.0.0.1:{free_port()}/v1"
    gw = gateway_factory(config)
    with pytest.raises(openai.InternalServerError) as caught:
        client_for(gw).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert caught.value.status_code == 503
    (row,) = records(gw)
    assert row["error_type"] == "upstream_unavailable"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_upstream_4xx_passed_on_as_it_came(
    gateway: RunningGateway, upstream: FakeUpstream, status: int
) -> None:
    upstream_body = orjson.dumps(
        {
            "error": {
                "message": "This model's maximum context length is 8 tokens",
                "type": "invalid_request_error",
                "param": "messages",
                "code": "context_length_exceeded",
            }
        }
    )
    upstream.fail_next(Fault(status=status, body=upstream_body))
    response = chat(gateway, orjson.dumps({"model": "gpt-4o-mini", "messages": MESSAGES}))
    assert response.status_code == status
    assert response.content == upstream_body
    assert len(upstream.received) == 1  # not retried
    (row,) = records(gateway)
    assert row["status_code"] == status


@pytest.mark.parametrize(
    ("content_type", "body", "said"),
    [
        ("text/plain", b"404: Not Found", "404: Not Found"),
        (
            "text/html",
            b"<html><head><title>404 Not Found</title></head><body><h1>404 Not Found</h1>"
            b"<hr><center>nginx</center></body></html>",
            "404 Not Found 404 Not Found nginx",
        ),
        ("application/json", b'{"error": "model \'llama9\' not found"}', "model 'llama9' not found"),
    ],
)
def test_upstream_4xx_that_is_not_an_error_object_comes_in_openai_shape(
    gateway: RunningGateway, upstream: FakeUpstream, content_type: str, body: bytes, said: str
) -> None:
    """A wrong api_base behind nginx, a proxy's page, Ollama's bare error string: the app's SDK
    still reads an OpenAI error, with the upstream's own words and status, not retried."""
    upstream.fail_next(Fault(status=404, body=body, content_type=content_type))
    with pytest.raises(openai.NotFoundError) as caught:
        client_for(gateway).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    error = caught.value.body
    assert isinstance(error, dict) and error["type"] == "invalid_request_error"
    assert error["message"] == f"upstream {records(gateway)[0]['deployment']} answered 404: {said}"
    assert caught.value.response.headers["content-type"] == "application/json"
    assert len(upstream.received) == 1  # not retried
    (row,) = records(gateway)
    assert row["status_code"] == 404 and row["status"] == "error"


def test_upstream_200_holding_only_an_error_is_an_upstream_failure(
    upstream: FakeUpstream, gateway_factory: Any
) -> None:
    """The SDK read such a 200 as a completion without choices; the record said success."""
    gateway = gateway_factory({**upstream_config(upstream), "router_settings": {"num_retries": 0}})
    error = {"message": "You exceeded your current quota.", "type": "insufficient_quota", "code": None}
    upstream.fail_next(Fault(status=200, body=orjson.dumps({"error": error})))
    with pytest.raises(openai.InternalServerError) as caught:
        client_for(gateway).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert caught.value.status_code == 502
    assert "You exceeded your current quota." in str(caught.value)
    (row,) = records(gateway)
    assert (row["status"], row["status_code"], row["error_type"]) == ("error", 502, "upstream_error")


def test_upstream_429_keeps_retry_after(upstream: FakeUpstream, gateway_factory: Any) -> None:
    # No retries left, so the 429 comes back with its Retry-After rather than being waited out.
    gateway = gateway_factory({**upstream_config(upstream), "router_settings": {"num_retries": 0}})
    upstream.fail_next(Fault(status=429, retry_after="7"))
    response = chat(gateway, orjson.dumps({"model": "gpt-4o-mini", "messages": MESSAGES}))
    assert_openai_error(response, 429)
    assert response.headers["retry-after"] == "7"


def test_stream_cut_midway_ends_with_error_event(gateway: RunningGateway, upstream: FakeUpstream) -> None:
    upstream.fail_next(Fault(cut_after=3))
    stream = client_for(gateway).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    with pytest.raises(openai.APIError):
        list(stream)
    (row,) = records(gateway)
    assert row["status"] == "error" and row["error_type"] == "stream_interrupted"
    assert row["response_text"] == "Upstream says:"  # what was delivered before the cut


def test_stream_the_upstream_ends_with_an_error_event_is_recorded_as_failed(
    gateway: RunningGateway, upstream: FakeUpstream
) -> None:
    """OpenAI's way to fail a stream already begun: the SDK raises at the event, relayed as it
    came, and the record says the call failed (it said success, HTTP having said 200)."""
    upstream.fail_next(Fault(error_after=3))
    stream = client_for(gateway).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    with pytest.raises(openai.APIError, match="error while processing"):
        list(stream)
    (row,) = records(gateway)
    assert (row["status"], row["status_code"], row["error_type"]) == ("error", 502, "upstream_error")
    assert "error while processing your request" in row["error_message"]
    assert row["response_text"] == "Upstream says:"  # what was delivered before the error


def test_wrong_method_and_unknown_path(gateway: RunningGateway) -> None:
    assert_openai_error(gateway.get("/v1/chat/completions", headers=AUTH), 405)
    assert_openai_error(gateway.get("/v1/nothing-here", headers=AUTH), 404)


def test_health(gateway: RunningGateway) -> None:
    assert gateway.get("/health").json() == {"status": "ok"}
    ready = gateway.get("/health/readiness")
    assert ready.status_code == 200 and ready.json()["store"] == "ok"
