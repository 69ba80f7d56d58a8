"""The exact cache's key: a hash of the canonical request, and where it is filed.

Two requests share an entry when everything that can change the answer is equal: the endpoint,
the model group (after a key's model aliases) and the body minus what cannot change it —
``model`` (the group stands for it), ``stream`` and ``stream_options`` (a plain answer replays as a
stream and back), ``user``, ``metadata`` and ``cache`` (the caller's, and LiteLLM's per-request
controls). Messages or input, temperature, top_p, tools, tool_choice, response_format, seed,
max_tokens, n, stop, logprobs and any other parameter are in. Headers never are.

The digest is sha256 over orjson with sorted keys, so the order of a JSON object's keys does not
matter while the order of a list (messages, stop words) does.

Keys are laid out as ``{namespace}:{kind}:{model group}:{scope}:{digest}`` (``base.py``); every
part a user names is percent-encoded, so ``:`` only ever separates parts and a glob pattern
(``clear`` by model group or team) cannot match across them.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal
from urllib.parse import quote

import orjson

__all__ = [
    "EXCLUDED_FIELDS",
    "canonical_digest",
    "entry_key",
    "match_pattern",
    "scope_of",
    "space_key",
    "space_pattern",
]

#: body fields that never change the answer (or are llmgate's and LiteLLM's own)
EXCLUDED_FIELDS = frozenset({"model", "stream", "stream_options", "user", "metadata", "cache"})

Scope = Literal["team", "key", "global"]
GLOBAL = "global"


def _part(name: str) -> str:
    """A user-named part of a key: percent-encoded, so it holds no ``:`` and no glob character."""
    return quote(name, safe="")


def canonical_digest(endpoint: str, group: str, body: dict[str, Any]) -> str:
    """sha256 (hex) of the canonical request: endpoint, model group and the answer-changing body."""
    kept = {k: v for k, v in body.items() if k not in EXCLUDED_FIELDS}
    canonical = orjson.dumps(
        {"endpoint": endpoint, "model": group, "body": kept},
        option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS,
    )
    return hashlib.sha256(canonical).hexdigest()


def scope_of(mode: Scope, key_id: str | None, team_id: str | None) -> str:
    """Whose entries a request reads and writes.

    ``team`` (the default): its team's, or its key's when the key has no team; ``key``: its key's;
    ``global``: one scope for all. A request without a key (an open gateway, the master key)
    shares the one global scope.
    """
    if mode == "team" and team_id is not None:
        return "team-" + _part(team_id)
    if mode != GLOBAL and key_id is not None:
        return "key-" + _part(key_id)
    return GLOBAL


def entry_key(namespace: str, group: str, scope: str, digest: str, kind: str = "e") -> str:
    """``{namespace}:{kind}:{model group}:{scope}:{digest}``."""
    return f"{_part(namespace)}:{kind}:{_part(group)}:{scope}:{digest}"


def space_key(namespace: str, group: str, scope: str, digest: str) -> str:
    """A semantic space: one (namespace, model group, scope, rest-of-request digest), laid out as an
    entry key without its kind; never shared across namespaces or scopes."""
    return f"{_part(namespace)}:{_part(group)}:{scope}:{digest}"


def space_pattern(namespace: str, group: str | None = None, team: str | None = None) -> str:
    """The glob of the semantic spaces of one namespace, and model group and/or team."""
    group_part = _part(group) if group is not None else "*"
    scope_part = "team-" + _part(team) if team is not None else "*"
    return f"{_part(namespace)}:{group_part}:{scope_part}:*"


def match_pattern(namespace: str, kind: str, group: str | None = None, team: str | None = None) -> str:
    """The glob of the keys of one model group and/or team (``*`` for what is not given)."""
    group_part = _part(group) if group is not None else "*"
    scope_part = "team-" + _part(team) if team is not None else "*"
    return f"{_part(namespace)}:{kind}:{group_part}:{scope_part}:*"
