"""llmgate: an OpenAI-compatible LLM gateway that records every call.

Public API: ``__version__``, ``create_app`` and ``load_config``. ``create_app`` is imported
lazily so that ``import llmgate`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmgate.config.loader import load_config

__version__ = "0.1.0"
__all__ = ["__version__", "create_app", "load_config"]

if TYPE_CHECKING:
    from llmgate.server.app import create_app


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from llmgate.server.app import create_app

        return create_app
    raise AttributeError(f"module 'llmgate' has no attribute {name!r}")
