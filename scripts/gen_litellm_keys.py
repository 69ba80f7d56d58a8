"""Regenerate src/llmgate/config/litellm_keys.json from the installed litellm.

The gateway reads LiteLLM proxy configs. Keys that LiteLLM knows but llmgate does not
implement are accepted with one warning at start-up; anything else is an error. This
script records which keys LiteLLM knows, so that loading a config never imports litellm.
Run it after upgrading litellm: ``python scripts/gen_litellm_keys.py``.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import json
import os
import types
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm
from litellm import Router
from litellm.proxy._types import ConfigGeneralSettings
from litellm.types.router import LiteLLM_Params

simple = (bool, int, float, str, list, dict, type(None))
settings = sorted(
    name
    for name, value in vars(litellm).items()
    if not name.startswith("_")
    and isinstance(value, simple)
    and not isinstance(value, types.ModuleType)
    and name.islower()
)
completion_params = [
    p for p in inspect.signature(litellm.completion).parameters if p not in {"kwargs", "args"}
]
out = {
    "litellm_version": importlib.metadata.version("litellm"),
    "litellm_params": sorted(set(LiteLLM_Params.model_fields) | set(completion_params) | {"weight"}),
    "general_settings": sorted(ConfigGeneralSettings.model_fields),
    "router_settings": sorted(p for p in inspect.signature(Router.__init__).parameters if p != "self"),
    "litellm_settings": settings,
}
target = Path(__file__).resolve().parent.parent / "src/llmgate/config/litellm_keys.json"
target.write_text(json.dumps(out, indent=0, sort_keys=True) + "\n")
print(f"wrote {target}: " + ", ".join(f"{k}={len(v)}" for k, v in out.items() if isinstance(v, list)))
