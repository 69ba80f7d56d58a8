"""The adapter registry: which deployments get an adapter, chosen once per (endpoint, deployment)."""

from __future__ import annotations

from typing import Any

from llmgate.apis.registry import Adapters
from llmgate.config import parse_config
from llmgate.config.deployment import Deployment, build_deployments
from llmgate.protocol.endpoints import Endpoint


def _deployment(ident: str, provider: str) -> Deployment:
    entry = {"model_name": "m", "litellm_params": {"model": f"{provider}/up"}, "model_info": {"id": ident}}
    if provider == "openai":
        entry["litellm_params"]["api_key"] = "sk-test"
    (deployment,) = build_deployments(parse_config({"model_list": [entry]}))
    return deployment


def test_endpoints_without_a_chooser_never_get_an_adapter() -> None:
    adapters = Adapters()
    assert adapters.for_(Endpoint.CHAT, _deployment("a", "openai")) is None


def test_the_chooser_decides_per_deployment_and_is_asked_once() -> None:
    asked: list[str] = []
    marker: Any = object()

    def choose(deployment: Deployment) -> Any:
        asked.append(deployment.id)
        return None if deployment.provider == "openai" else marker

    adapters = Adapters({Endpoint.RESPONSES: choose})
    native, other = _deployment("a", "openai"), _deployment("b", "mock")
    for _ in range(3):
        assert adapters.for_(Endpoint.RESPONSES, native) is None
        assert adapters.for_(Endpoint.RESPONSES, other) is marker
        assert adapters.for_(Endpoint.CHAT, other) is None
    assert asked == ["a", "b"]
