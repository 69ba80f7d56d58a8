"""Wildcard model names (``anthropic/*``, ``openai/gpt-4*``, ``*``): the one matching rule.

A ``model_name`` with ``*`` in it is a pattern, as in LiteLLM's wildcard routing: each ``*`` matches
any run of characters, and the whole requested name must match. A bare requested name that no
pattern matches is tried again with the provider LiteLLM infers for it (``claude-sonnet-4-…`` matches
``anthropic/*``), as LiteLLM does. When several patterns match, the most specific wins: the longest,
then the one with more ``*`` (LiteLLM's order). ``fill`` puts what the ``*`` matched into the
deployment's ``litellm_params.model`` (``openai/*`` → ``openai/gpt-4o``).

Routing (``routing/wildcards.py``) and key allow-lists (``auth/enforce.py``: a key allowed
``anthropic/*`` may use any Anthropic model) both ask this module, so the two agree.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from llmgate.config.bare_models import infer_provider

__all__ = ["ANY_PROVIDER", "MAX_NAME", "Pattern", "allowed_by", "is_pattern", "usable_name"]

#: the provider of a deployment whose model is a bare pattern (``*``): known only per request
ANY_PROVIDER = "*"
#: requested names longer than this never match a pattern (they become deployment ids and headers)
MAX_NAME = 256


def is_pattern(name: str) -> bool:
    return "*" in name


def usable_name(name: str) -> bool:
    """Whether a requested name may be served through a pattern: short, printable ASCII, no spaces
    (it becomes part of a deployment id, which goes in a response header)."""
    return 0 < len(name) <= MAX_NAME and name.isascii() and name.isprintable() and " " not in name


class Pattern:
    """One wildcard ``model_name``, compiled."""

    __slots__ = ("regex", "specificity", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.regex = re.compile(re.escape(text).replace(r"\*", "(.*)"), re.DOTALL)
        self.specificity = (len(text), text.count("*"))

    def match(self, name: str) -> re.Match[str] | None:
        """The match of ``name`` (or of ``provider/name`` for a bare name), or None."""
        found = self.regex.fullmatch(name)
        if found is None and "/" not in name:
            provider = infer_provider(name)
            if provider is not None:
                found = self.regex.fullmatch(f"{provider}/{name}")
        return found

    @staticmethod
    def fill(found: re.Match[str], model: str) -> str:
        """``model`` (a ``litellm_params.model``) with its ``*`` replaced by what they matched, in
        order; a model without ``*`` is used as it is, and one with fewer ``*`` than the pattern
        takes the whole requested name (LiteLLM's rule)."""
        if "*" not in model:
            return model
        parts = found.groups()
        if len(parts) > model.count("*"):
            return found.string
        for part in parts:
            model = model.replace("*", part, 1)
        return model


def allowed_by(name: str, allowed: Collection[str]) -> bool:
    """Whether an allow-list admits ``name``: listed as it is, or matched by a pattern in it."""
    if name in allowed:
        return True
    return usable_name(name) and any(is_pattern(p) and Pattern(p).match(name) is not None for p in allowed)
