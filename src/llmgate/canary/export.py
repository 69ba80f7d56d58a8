"""``llmgate canary export``: the config change that makes a promoted candidate the stable model.

A promotion changes the running gateway only (the canary's promoted route). To keep it, the
config's ``model_list`` entries of the model must become what the candidate was:

- another model group: that group's entries, under the model's name;
- one deployment: that entry, under the model's name;
- the same model with another system prompt or parameters: the model's own entries, the
  parameters folded into ``litellm_params``.

Entries are copied as the config file has them (``os.environ/NAME`` references, never the secrets
they name), without ``model_info.id`` (an id names one entry: the originals keep theirs). What
``model_list`` cannot say is printed as comments: a system prompt (llmgate has no per-deployment
system prompt in the config: set it in the application), and that parameters in
``litellm_params`` are defaults a client's own value overrides, where the canary forced them.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import yaml

from llmgate.config.model_entry import REQUEST_DEFAULT_PARAMS

if TYPE_CHECKING:
    from llmgate.store.canaries import CanaryRow

__all__ = ["export_change"]


def _comment(text: str) -> list[str]:
    return [f"# {line}".rstrip() for line in text.splitlines() or [""]]


def _source(row: CanaryRow, names: Sequence[str], ids: Sequence[str]) -> tuple[list[int], str]:
    """Which entries become the model's, and what they are, in words."""
    candidate = row.candidate
    if candidate.get("deployment"):
        found = [i for i, entry_id in enumerate(ids) if entry_id == candidate["deployment"]]
        return found, f"deployment {candidate['deployment']!r}"
    group = candidate.get("model") or row.model
    found = [i for i, name in enumerate(names) if name == group]
    return found, f"model group {group!r}" if group != row.model else f"{row.model!r}'s own deployments"


def export_change(row: CanaryRow, entries: Sequence[Mapping[str, Any]], ids: Sequence[str]) -> str:
    """The YAML to commit for ``row``'s candidate (``entries``: ``model_list`` as written; ``ids``:
    each entry's deployment id, in the same order)."""
    names = [str(entry.get("model_name")) for entry in entries]
    chosen, what = _source(row, names, ids)
    params: dict[str, Any] = dict(row.candidate.get("params") or {})
    prompt = row.candidate.get("system_prompt")
    lines = [f"# llmgate canary export {row.id}: model {row.model!r} after the promotion of {what}."]
    if row.status != "promoted":
        lines.append(f"# The canary is {row.status}, not promoted: this is what its promotion would commit.")
    if not chosen:
        lines.append(f"# {what} is not in this config's model_list: nothing to copy.")
        return "\n".join(lines) + "\n"
    lines += [
        f"# In model_list, replace the entries whose model_name is {row.model!r} with these ones,",
        "# then remove the canary from llmgate.canaries (when it is there) and restart the gateway.",
    ]
    copies = []
    for i in chosen:
        entry = copy.deepcopy(dict(entries[i]))
        entry["model_name"] = row.model
        info = dict(entry.get("model_info") or {})
        if "id" in info:
            del info["id"]
            if info:
                entry["model_info"] = info
            else:
                entry.pop("model_info", None)
        if params:
            entry["litellm_params"] = {**dict(entry.get("litellm_params") or {}), **params}
        copies.append(entry)
    forced = sorted(name for name in params if name in REQUEST_DEFAULT_PARAMS)
    other = sorted(name for name in params if name not in REQUEST_DEFAULT_PARAMS)
    if forced:
        lines += _comment(
            f"Not quite the same: the canary forced {', '.join(forced)} onto every request; in "
            "litellm_params they are defaults, and a request that sets its own value keeps it."
        )
    if other:
        lines += _comment(
            f"Cannot be expressed as a request parameter: {', '.join(other)} (in litellm_params it is "
            "passed to the provider as a LiteLLM keyword, which OpenAI-compatible providers ignore)."
        )
    if prompt:
        lines += _comment(
            "Cannot be expressed in model_list: the candidate's system prompt (it replaced the request's "
            "first system message, or came first). Set it in the application:"
        )
        lines += [f"#   {line}".rstrip() for line in str(prompt).splitlines()]
    body = yaml.safe_dump(
        {"model_list": copies}, sort_keys=False, allow_unicode=True, default_flow_style=False
    )
    return "\n".join(lines) + "\n" + body
