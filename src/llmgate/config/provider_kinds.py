"""Which providers speak OpenAI's API, and their default API bases: the one table of provider kinds.

Data, not code: the schema reads it (which ``litellm_params`` keys go unused on the direct path), the
deployments read the default API bases, and ``providers/openai_compat.py`` serves exactly these
providers (``providers/registry.py`` decides which provider serves a deployment). It lives in the
config because the config is below the providers and validates without importing them.
"""

from __future__ import annotations

__all__ = ["DEFAULT_API_BASES", "OPENAI_COMPATIBLE_PROVIDERS"]

#: providers whose API is OpenAI's: forwarded directly over the pooled aiohttp client.
OPENAI_COMPATIBLE_PROVIDERS = frozenset(
    {
        "openai",
        "azure",
        "hosted_vllm",
        "vllm",
        "ollama_chat",
        "openai_compatible",
        "custom_openai",
        "text-completion-openai",
        "lm_studio",
        "llamafile",
        "xinference",
    }
)

#: default API bases for OpenAI-compatible providers that have a well-known one.
DEFAULT_API_BASES = {
    "openai": "https://api.openai.com/v1",
    "ollama_chat": "http://127.0.0.1:11434/v1",
}
