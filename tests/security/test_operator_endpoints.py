"""``/health/deployments`` follows ``metrics_require_auth``; ``/docs`` loads nothing from a CDN.

``GET /health/deployments`` shows every deployment's circuit, error rate and latency: operators'
data, as ``/metrics`` is, so with ``llmgate.metrics_require_auth: true`` it asks for the master
key or an admin key by the same rule (401 without a valid key, 403 for a key that is not an
admin's). FastAPI's Swagger UI (``/docs``) and ReDoc load their scripts from a CDN: they are off
unless ``llmgate.http.swagger_ui`` is set; the schema stays at ``/openapi.json``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from support.configs import MASTER_KEY
from support.gateway import RunningGateway
from support.served import ServedGateway

MOCK = [{"model_name": "mock-echo", "litellm_params": {"model": "mock/echo"}}]


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedGateway]:
    config = {
        "model_list": MOCK,
        "general_settings": {"master_key": MASTER_KEY},
        "llmgate": {"metrics_require_auth": True},
    }
    gateway = ServedGateway(config, tmp_path_factory.mktemp("operator")).start()
    yield gateway
    gateway.stop()


def test_deployment_health_asks_for_an_admin_key_when_metrics_do(served: ServedGateway) -> None:
    with httpx.Client(base_url=served.url, timeout=60) as client:
        made = client.post("/admin/keys", json={"alias": "app"}, headers=bearer(MASTER_KEY))
        assert made.status_code == 201, made.text
        user_key = made.json()["key"]
        for path in ("/health/deployments", "/metrics"):  # one rule for both
            anonymous = client.get(path)
            assert anonymous.status_code == 401, (path, anonymous.text)
            assert anonymous.json()["error"]["type"] == "authentication_error"
            assert client.get(path, headers=bearer("sk-not-a-key-0000000000")).status_code == 401
            not_admin = client.get(path, headers=bearer(user_key))
            assert not_admin.status_code == 403, (path, not_admin.text)
            assert "master key or an admin key" in not_admin.json()["error"]["message"]
            assert client.get(path, headers=bearer(MASTER_KEY)).status_code == 200
        health = client.get("/health/deployments", headers=bearer(MASTER_KEY)).json()
        assert [d["model_name"] for d in health["deployments"]] == ["mock-echo"]
        # the probes a load balancer uses stay open
        for path in ("/health", "/health/liveness"):
            assert client.get(path).status_code == 200


def test_swagger_ui_is_off_by_default_and_the_schema_stays(served: ServedGateway) -> None:
    with httpx.Client(base_url=served.url, timeout=60) as client:
        schema = client.get("/openapi.json")
        assert schema.status_code == 200 and schema.json()["info"]["title"] == "llmgate"
        for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
            page = client.get(path)
            assert page.status_code == 404, path
            assert b"cdn" not in page.content.lower()


def test_swagger_ui_can_be_turned_on(gateway_factory: Callable[..., RunningGateway]) -> None:
    config: dict[str, Any] = {"model_list": MOCK, "llmgate": {"http": {"swagger_ui": True}}}
    gateway = gateway_factory(config)
    page = gateway.get("/docs")
    assert page.status_code == 200 and "swagger" in page.text.lower()
    # without metrics_require_auth, deployment health is open as before
    assert gateway.get("/health/deployments").status_code == 200
