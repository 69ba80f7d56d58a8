"""LiteLLM's model API: ``/model/info`` (also ``/v1/model/info``) and ``/model_group/info``.

What the config serves, in LiteLLM's shapes, for any caller with a usable key (a virtual key sees
the models its key, team and internal user may use, as ``/v1/models`` shows them). ``/model/info``
lists each deployment: ``model_name``, ``litellm_params`` without credentials (a parameter named
like one is left out; any key-shaped text in the rest masked: ``protocol/redact.py``) and
``model_info`` (its id, mode, prices per token). ``/model_group/info`` lists each model name with
its providers, limits and prices.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from llmgate.config import Deployment
from llmgate.protocol.redact import is_secret_name, redact
from llmgate.server.deps import app_state
from llmgate.server.litellm_common import Caller
from llmgate.server.params import refuse_nul

router = APIRouter(tags=["LiteLLM: models"], dependencies=[Depends(refuse_nul)])


def _visible(request: Request, identity: Caller) -> list[str]:
    state = app_state(request)
    lists = [identity.key.models if identity.key else None, identity.team.models if identity.team else None]
    if identity.key is not None and identity.key.user_id is not None:
        user = state.registry.user(identity.key.user_id)
        lists.append(user.models if user is not None else None)
    allowed = [set(models) for models in lists if models is not None]
    return [name for name in state.router.model_names if all(name in models for models in allowed)]


def _cost(value: Any) -> float | None:
    return float(value) if value is not None else None


def _model_info(deployment: Deployment, extra: dict[str, Any], max_tokens: int | None) -> dict[str, Any]:
    return {
        **redact({k: v for k, v in extra.items() if not is_secret_name(k)}),
        "id": deployment.id,
        "mode": deployment.mode or "chat",
        "base_model": deployment.base_model,
        "input_cost_per_token": _cost(deployment.input_cost_per_token),
        "output_cost_per_token": _cost(deployment.output_cost_per_token),
        "max_output_tokens": max_tokens,
        "db_model": False,
    }


@router.get("/model/info", summary="LiteLLM: the deployments, without credentials")
@router.get("/v1/model/info", summary="LiteLLM: the deployments, without credentials")
def model_info(request: Request, identity: Caller) -> dict[str, Any]:
    state = app_state(request)
    names = set(_visible(request, identity))
    entries = {entry.model_name: entry for entry in state.config.model_list}
    data = []
    for deployment in state.router.deployments:
        if deployment.model_name not in names:
            continue
        entry = entries.get(deployment.model_name)
        params = entry.litellm_params.model_dump(exclude_none=True, mode="json") if entry is not None else {}
        params = redact({k: v for k, v in params.items() if not is_secret_name(k)})
        params["model"] = deployment.litellm_model
        extra = entry.model_info.model_dump(exclude_none=True, mode="json") if entry is not None else {}
        info = _model_info(deployment, extra, state.prices.max_output_tokens(deployment))
        data.append({"model_name": deployment.model_name, "litellm_params": params, "model_info": info})
    return {"data": data}


@router.get("/model_group/info", summary="LiteLLM: each model name, its providers, limits and prices")
def model_group_info(request: Request, identity: Caller, model_group: str | None = None) -> dict[str, Any]:
    state = app_state(request)
    data = []
    for name in _visible(request, identity):
        if model_group is not None and name != model_group:
            continue
        group = state.router.group(name)
        first = group[0]
        rpms = [d.rpm for d in group if d.rpm is not None]
        tpms = [d.tpm for d in group if d.tpm is not None]
        data.append(
            {
                "model_group": name,
                "providers": sorted({d.provider for d in group}),
                "mode": first.mode or "chat",
                "max_input_tokens": None,
                "max_output_tokens": state.prices.max_output_tokens(first),
                "input_cost_per_token": _cost(first.input_cost_per_token),
                "output_cost_per_token": _cost(first.output_cost_per_token),
                "rpm": sum(rpms) if rpms else None,
                "tpm": sum(tpms) if tpms else None,
                "supports_function_calling": None,
                "supports_vision": None,
                "supported_openai_params": None,
            }
        )
    return {"data": data}
