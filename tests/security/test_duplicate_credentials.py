"""Two ``Authorization`` headers: one rule everywhere, refuse with 400.

Which of two keys would count was a matter of the route: the proxy routes kept the last header,
the admin API and the dashboard the first. Now every surface refuses a request that carries a
credential header (``Authorization``, ``api-key``, ``x-api-key``) more than once, in either
order. Raw sockets against ``llmgate serve``: HTTP clients fold or refuse repeated headers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from support.configs import MASTER_KEY
from support.raw_http import exchange, http_request
from support.served import ServedGateway

GOOD = f"Bearer {MASTER_KEY}"
BAD = "Bearer sk-not-a-key-0000000000"
CHAT = json.dumps({"model": "mock-echo", "messages": [{"role": "user", "content": "hi"}]}).encode()
# (method, path, body): the proxy, the model list, the admin API, the dashboard's data
SURFACES = [
    ("POST", "/v1/chat/completions", CHAT),
    ("GET", "/v1/models", b""),
    ("GET", "/admin/keys", b""),
    ("GET", "/ui/api/overview", b""),
]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedGateway]:
    config = {
        "model_list": [{"model_name": "mock-echo", "litellm_params": {"model": "mock/echo"}}],
        "general_settings": {"master_key": MASTER_KEY},
    }
    gateway = ServedGateway(config, tmp_path_factory.mktemp("dup")).start()
    # the admin app (FastAPI) and the store are built on first use: seconds on a busy machine
    assert (
        httpx.get(gateway.url + "/admin/keys", headers={"authorization": GOOD}, timeout=60).status_code == 200
    )
    yield gateway
    gateway.stop()


@pytest.mark.parametrize(("method", "path", "body"), SURFACES, ids=[path for _, path, _ in SURFACES])
def test_a_repeated_credential_header_is_refused_on_every_surface(
    served: ServedGateway, method: str, path: str, body: bytes
) -> None:
    single = exchange(served.port, http_request(method, path, [("authorization", GOOD)], body))
    assert single.status == 200, single  # the surface serves this key when it comes once

    repeats = [
        [("authorization", GOOD), ("authorization", BAD)],
        [("authorization", BAD), ("authorization", GOOD)],
        [("Authorization", GOOD), ("AUTHORIZATION", GOOD)],  # the same key twice, any spelling
        [("api-key", MASTER_KEY), ("api-key", "sk-not-a-key-0000000000")],
        [("x-api-key", MASTER_KEY), ("x-api-key", MASTER_KEY)],
        [("authorization", GOOD), ("api-key", MASTER_KEY), ("authorization", BAD)],
    ]
    for headers in repeats:
        response = exchange(served.port, http_request(method, path, headers, body))
        assert response.status == 400, (headers, response)
        error = json.loads(response.body)["error"]
        assert error["type"] == "invalid_request_error" and error["code"] == "duplicate_credentials"
        assert headers[0][0].lower() in error["message"] or headers[-1][0].lower() in error["message"]


def test_one_authorization_and_one_api_key_are_not_a_repeat(served: ServedGateway) -> None:
    response = exchange(
        served.port,
        http_request("GET", "/v1/models", [("authorization", GOOD), ("api-key", MASTER_KEY)]),
    )
    assert response.status == 200
