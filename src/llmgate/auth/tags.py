"""Request tags for spend reports (cost centre, feature, environment): where they come from.

A request's tags are its team's, then its key's, then the ``x-llmgate-tags`` header's, then
``metadata.tags`` in the body, later ones winning. They are stored with the record as one JSON
object and grouped on with ``llmgate report spend --group-by tag:NAME``.
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
    """A request's tags: its team's, then its key's, the ``x-llmgate-tags`` header, ``metadata.tags``."""
    tags: dict[str, str] = {}
    if identity.team is not None:
        tags.update(identity.team.tags)
    if identity.key is not None:
        tags.update(identity.key.tags)
    if header:
        tags.update(_parse_tags(header))
    if metadata and "tags" in metadata:
        tags.update(_parse_tags(metadata["tags"]))
    return tags or None
