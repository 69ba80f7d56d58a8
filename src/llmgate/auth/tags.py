"""Request tags for spend reports (cost centre, feature, environment): where they come from.

A request's tags are its team's and its key's (set by an admin), then the ``x-llmgate-tags``
header's and ``metadata.tags`` in the body (sent by the client), later ones winning, except
that a tag the admin assigned cannot be changed by the client: a key tagged
``cost_centre=cc-42`` bills cc-42 whatever its requests say, while tags the admin left free are
the client's to set. Tags are ``NAME=VALUE`` or ``NAME:VALUE`` (or a JSON object); the NAME is
what is assigned. They are stored with the record as one JSON object (what was enforced) and
grouped on with ``llmgate report spend --group-by tag:NAME``.
"""

from __future__ import annotations

from typing import Any

from llmgate.auth.keys import Identity


def _parse_tags(items: Any) -> dict[str, str]:
    """Tags as ``{"feature": "search"}``, ``["feature:search", "env=prod"]`` or ``"a=b,c=d"``."""
    if isinstance(items, dict):
        return {str(k): str(v) for k, v in items.items()}
    if isinstance(items, str):
        items = items.split(",")
    tags: dict[str, str] = {}
    if isinstance(items, list):
        for item in items:
            text = str(item).strip()
            if not text:
                continue
            name, _, value = text.partition("=") if "=" in text else text.partition(":")
            tags[name.strip()] = value.strip()
    return tags


def request_tags(
    identity: Identity, header: str | None, metadata: dict[str, Any] | None
) -> dict[str, str] | None:
    """A request's tags: the ``x-llmgate-tags`` header's, then ``metadata.tags``, then its team's
    and its key's, which the client's cannot override."""
    tags: dict[str, str] = {}
    if header:
        tags.update(_parse_tags(header))
    if metadata and "tags" in metadata:
        tags.update(_parse_tags(metadata["tags"]))
    if identity.team is not None:
        tags.update(identity.team.tags)
    if identity.key is not None:
        tags.update(identity.key.tags)
    return tags or None
