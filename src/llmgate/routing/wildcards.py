"""Wildcard model groups (``model_name: "anthropic/*"``): the deployments one requested name gets.

A group whose ``model_name`` is a pattern (``config/model_patterns.py``) serves every name it
matches, as LiteLLM's wildcard routing does. For a requested name, the most specific matching
pattern's deployments are copied with the concrete model filled in (``anthropic/*`` asked for
``anthropic/claude-3-5-haiku-20241022`` calls ``claude-3-5-haiku-20241022``; a bare pattern's
provider is the one LiteLLM infers for the name). Each copy is named after the requested name, so
it is recorded and priced as that model, and has its own id (``<template id>:<name>``), so its
cooldowns and latency are its own: one failing model does not cool down its provider's others.

The router asks here only when the exact lookup missed, and the answer is kept per requested name,
up to ``CACHE_SIZE`` names. Past that, names are resolved on each request (a few regex matches) and
share their template's id, so nothing grows without bound however many names clients invent.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable

from llmgate.config.bare_models import infer_provider
from llmgate.config.deployment import Deployment
from llmgate.config.model_patterns import ANY_PROVIDER, Pattern, is_pattern, usable_name
from llmgate.config.provider_kinds import DEFAULT_API_BASES

__all__ = ["CACHE_SIZE", "Wildcards"]

log = logging.getLogger("llmgate.routing")

#: requested names whose deployments are kept (and get ids of their own)
CACHE_SIZE = 1024


class Wildcards:
    """The wildcard groups of a config, most specific first, and what each requested name resolved to."""

    def __init__(
        self,
        templates: Iterable[Deployment],
        *,
        on_new: Callable[[Deployment], None],
        cache_size: int = CACHE_SIZE,
    ) -> None:
        groups: dict[str, list[Deployment]] = {}
        for deployment in templates:
            groups.setdefault(deployment.model_name, []).append(deployment)
        ordered = sorted(groups, key=lambda name: Pattern(name).specificity, reverse=True)
        self._patterns = [(Pattern(name), groups[name]) for name in ordered]
        self._on_new = on_new  # a new id: the router's health and the app's providers learn it
        self._cache: dict[str, tuple[str, list[Deployment]]] = {}  # name -> (pattern, deployments)
        self._cache_size = cache_size
        self._full_logged = False
        infer_provider("gpt-4o")  # read litellm's model map now (~30 ms), not on a request

    @staticmethod
    def is_template(deployment: Deployment) -> bool:
        return is_pattern(deployment.model_name)

    def pattern_of(self, name: str) -> str | None:
        """The ``model_name`` of the wildcard group that serves ``name``, if any."""
        cached = self._cache.get(name)
        if cached is not None:
            return cached[0]
        found = self._match(name)
        return found[0].text if found is not None else None

    def resolve(self, name: str) -> list[Deployment] | None:
        """The deployments serving ``name`` through a wildcard group, or None when none matches."""
        cached = self._cache.get(name)
        if cached is not None:
            return cached[1]
        found = self._match(name)
        if found is None:
            return None
        pattern, templates = found
        keep = len(self._cache) < self._cache_size
        deployments = [
            d for d in (self._derive(t, pattern, name, own_id=keep) for t in templates) if d is not None
        ]
        if not deployments:
            return None
        if keep:
            self._cache[name] = (pattern.text, deployments)
            for deployment in deployments:
                self._on_new(deployment)
        elif not self._full_logged:
            self._full_logged = True
            log.warning(
                "%d model names served through wildcard groups: further names share their group's health",
                self._cache_size,
            )
        return deployments

    def _match(self, name: str) -> tuple[Pattern, list[Deployment]] | None:
        if not usable_name(name):
            return None
        for pattern, templates in self._patterns:
            if pattern.match(name) is not None:
                return pattern, templates
        return None

    @staticmethod
    def _derive(template: Deployment, pattern: Pattern, name: str, *, own_id: bool) -> Deployment | None:
        found = pattern.match(name)
        if found is None:
            return None
        model = Pattern.fill(found, template.litellm_model)
        if "/" in model:
            provider, upstream = model.split("/", 1)
        else:
            inferred = infer_provider(model)
            if inferred is None:
                return None
            provider, upstream, model = inferred, model, f"{inferred}/{model}"
        api_base = template.api_base
        if api_base is None and template.provider == ANY_PROVIDER:
            api_base = DEFAULT_API_BASES.get(provider)
        return dataclasses.replace(
            template,
            id=f"{template.id}:{name}" if own_id else template.id,
            model_name=name,
            provider=provider,
            upstream_model=upstream,
            litellm_model=model,
            api_base=api_base,
        )
