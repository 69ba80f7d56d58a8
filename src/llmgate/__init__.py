"""llmgate: an OpenAI-compatible LLM gateway that records every call.

Public API: ``__version__``, ``create_app`` and ``load_config``. Both functions are imported
lazily so that ``import llmgate`` (and so ``llmgate --help`` and ``--version``) stays cheap:
the config schema alone takes a large share of a CLI command's start-up. The version is the
``llmgate-server`` distribution's (``llmgate/version.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmgate.version import __version__

__all__ = ["__version__", "create_app", "load_config"]

if TYPE_CHECKING:
    from llmgate.config.loader import load_config
    from llmgate.server.app import create_app


def __getattr__(name: str) -> Any:
    if name == "create_app":
        # the server stack (aiohttp, pydantic, the gateway): off `import llmgate` and `llmgate --help`
        from llmgate.server.app import create_app

        return create_app
    if name == "load_config":
        # pydantic and PyYAML (the config schema): off `import llmgate` and `llmgate --help`
        from llmgate.config.loader import load_config

        return load_config
    raise AttributeError(f"module 'llmgate' has no attribute {name!r}")
