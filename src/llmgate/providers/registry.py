"""Which provider serves each deployment, and building the providers a config needs.

Each provider module declares itself with a ``KIND`` (``base.ProviderKind``): its name, which
provider prefixes of ``litellm_params.model`` it serves, how to build it, what to warm at start-up.
This module is the one list of those modules, asked in order; the server asks it and never names a
provider. Adding a provider is one module in ``providers/`` with its ``KIND``, plus its line here.

The litellm adapter is the catch-all, asked last: its module (httpx at import, litellm later) loads
only when some deployment needs it, so a gateway of OpenAI-compatible upstreams starts without it.

The config stays below the providers: which prefixes speak OpenAI's API, and their default API
bases, are data in ``config/provider_kinds.py`` (the config reads them to resolve ``api_base`` and to
name keys that go unused on the direct path); ``openai_compat.KIND`` serves exactly that list.
"""

from __future__ import annotations

from collections.abc import Iterable

from llmgate.config.deployment import Deployment
from llmgate.providers import mock, openai_compat
from llmgate.providers.base import ProviderKind

__all__ = ["CATCH_ALL", "kind_name", "kinds_for"]

#: built for every app, asked in this order
_ALWAYS: tuple[ProviderKind, ...] = (mock.KIND, openai_compat.KIND)
#: the name of the kind that serves every provider the others do not (the litellm adapter)
CATCH_ALL = "litellm"


def kind_name(provider: str) -> str:
    """The name of the kind that serves ``provider`` (the prefix of ``litellm_params.model``)."""
    return next((kind.name for kind in _ALWAYS if kind.serves(provider)), CATCH_ALL)


def kinds_for(deployments: Iterable[Deployment]) -> dict[str, ProviderKind]:
    """The kinds an app with these deployments builds, by name: those always built, and the
    catch-all when a deployment needs it."""
    kinds = {kind.name: kind for kind in _ALWAYS}
    if any(kind_name(d.provider) == CATCH_ALL for d in deployments):
        # httpx at import and litellm after: ~0.2 s of start-up, only when a deployment needs them
        from llmgate.providers import litellm_adapter

        kinds[CATCH_ALL] = litellm_adapter.KIND
    return kinds
