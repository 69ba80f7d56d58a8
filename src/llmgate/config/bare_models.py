"""Model names without a provider prefix (``gpt-4o``, ``claude-sonnet-4-20250514``), resolved to the
provider LiteLLM would send them to.

LiteLLM's ``get_llm_provider`` answers a bare name from its model lists, which it builds from the
``litellm_provider`` of each entry of the price map it ships
(``model_prices_and_context_window_backup.json``), then from two name rules (``ft:gpt-4…``
fine-tunes, ``gpt-image…``) and then from the map's own routing rules (its
``fallback_generalizations``: regexes such as a bare ``claude-<family>-<n>`` → ``anthropic``). Importing
litellm takes seconds and is the litellm adapter's alone, so this module reads the same JSON as data
and applies the same steps, in the same order: a bare name goes where LiteLLM would send it (bare
Gemini names to ``vertex_ai``, as LiteLLM does). The map is read once, and only when some name needs
it: a config whose models all carry a prefix never reads it.

LiteLLM's map drops retired models (the one llmgate pins no longer lists
``claude-3-5-sonnet-20241022`` or ``gemini-1.5-pro``), while configs written for older LiteLLMs still
name them. ``FAMILIES``, a short table of model families, answers for those, last, as those
LiteLLMs did. A name nothing answers for is the config's error, naming the entry.

``litellm_map_path`` is the one rule for where litellm's map is; ``pricing/prices.py`` reads prices
from the same file.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FAMILIES", "PRICE_MAP_FILE", "infer_provider", "litellm_map_path"]

PRICE_MAP_FILE = "model_prices_and_context_window_backup.json"

#: the map's ``litellm_provider`` labels that LiteLLM's bare-name lookup consults, and the provider
#: each stands for (the other labels' entries are named with their prefix, so never bare)
_LABELS = {
    "openai": "openai",
    "text-completion-openai": "text-completion-openai",
    "anthropic": "anthropic",
    "cohere": "cohere",
    "cohere_chat": "cohere_chat",
    "replicate": "replicate",
    "openrouter": "openrouter",
    "maritalk": "maritalk",
    "ai21": "ai21_chat",
    "aleph_alpha": "aleph_alpha",
    "baseten": "baseten",
    "nlp_cloud": "nlp_cloud",
    "petals": "petals",
    "bedrock": "bedrock",
    "bedrock_converse": "bedrock",
    "watsonx": "watsonx",
    "empower": "empower",
    "gradient_ai": "gradient_ai",
}
_VERTEX_KINDS = (
    "text",
    "code-text",
    "language",
    "vision",
    "chat",
    "code-chat",
    "embedding",
    "image",
    "video",
)
_LABELS.update({f"vertex_ai-{kind}-models": "vertex_ai" for kind in _VERTEX_KINDS})
#: labels whose entries LiteLLM lists without their ``vertex_ai/`` prefix
_VERTEX_STRIPPED = frozenset({"vertex_ai-image-models", "vertex_ai-video-models"})

#: families of models retired from litellm's map, which older LiteLLMs still listed: asked last
FAMILIES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^claude-[^@]*$"), "anthropic"),
    (re.compile(r"^(gpt-|chatgpt-|o[1-9](-|$)|text-embedding-(3-|ada-)|dall-e-|whisper-|tts-)"), "openai"),
    (re.compile(r"^gemini-"), "vertex_ai"),
    (re.compile(r"^command(-|$)"), "cohere_chat"),
)


@dataclass(frozen=True, slots=True)
class _Index:
    by_name: dict[str, str]
    rules: tuple[tuple[re.Pattern[str], str], ...]


def litellm_map_path() -> Path | None:
    """Where the installed litellm keeps its price map (litellm is found, not imported)."""
    spec = importlib.util.find_spec("litellm")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / PRICE_MAP_FILE


@functools.cache
def _index() -> _Index:
    path = litellm_map_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path is not None else {}
    except (OSError, ValueError):
        data = {}
    if not isinstance(data, dict):
        data = {}
    by_name: dict[str, str] = {}
    for key, entry in data.items():
        if not isinstance(entry, dict):
            continue
        label = entry.get("litellm_provider")
        provider = _LABELS.get(label) if isinstance(label, str) else None
        if provider is None or (label == "bedrock" and entry.get("mode") == "guardrail"):
            continue
        name = key.removeprefix("vertex_ai/") if label in _VERTEX_STRIPPED else key
        if "/" in name or (provider == "openai" and name.startswith("ft:")):
            continue
        by_name.setdefault(name, provider)
    return _Index(by_name, _routing_rules(data.get("fallback_generalizations")))


def _routing_rules(block: object) -> tuple[tuple[re.Pattern[str], str], ...]:
    """The map's routing rules: a regex and a ``model_info`` of ``litellm_provider`` alone."""
    rules = block.get("rules") if isinstance(block, dict) else None
    out: list[tuple[re.Pattern[str], str]] = []
    for rule in rules if isinstance(rules, list) else ():
        info = rule.get("model_info") if isinstance(rule, dict) else None
        pattern = rule.get("pattern") if isinstance(rule, dict) else None
        if not isinstance(info, dict) or set(info) != {"litellm_provider"} or not isinstance(pattern, str):
            continue
        provider = info["litellm_provider"]
        if not isinstance(provider, str) or "extends" in rule:
            continue
        try:
            out.append((re.compile(pattern, re.IGNORECASE), provider))
        except re.error:
            continue
    return tuple(out)


@functools.lru_cache(maxsize=4096)
def infer_provider(name: str) -> str | None:
    """The provider LiteLLM infers for a bare model ``name``, or None when it knows none."""
    if not name or "/" in name:
        return None
    index = _index()
    found = index.by_name.get(name)
    if found is not None:
        return found
    if "ft:gpt-3.5-turbo" in name or "ft:gpt-4" in name or name.startswith("gpt-image") or name == "sora-2":
        return "openai"
    for pattern, provider in index.rules:
        if pattern.search(name) is not None:
            return provider
    return next((provider for pattern, provider in FAMILIES if pattern.search(name)), None)
