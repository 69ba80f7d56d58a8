"""The rule that ties virtual keys to the master key, and what llmgate says about it.

Without ``general_settings.master_key`` the gateway is open, as LiteLLM's proxy is: any caller may
use every model, with or without a key, so keys, budgets and limits would be enforced only on
callers who choose to send a key. llmgate therefore makes keys and teams only for a config that
has a master key (``llmgate keys create`` / ``teams create`` exit 2 with ``KEYS_NEED_MASTER_KEY``;
the admin API answers 400), and ``llmgate serve`` says at start, in one WARNING line, that a
gateway without one is open. ``configs/default.yaml`` ships ``LOCAL_MASTER_KEY``, a key for this
machine only that anyone can read in the README: ``serve`` warns when it listens beyond loopback
with it.
"""

from __future__ import annotations

import ipaddress

#: the master key of ``configs/default.yaml``: public, for a gateway on this machine only
LOCAL_MASTER_KEY = "sk-llmgate-local-only"

KEYS_NEED_MASTER_KEY = (
    "keys need a master_key in the config: without one the gateway is open and would not enforce "
    "them; set general_settings.master_key (see README 'Keys, budgets and spend')"
)
OPEN_GATEWAY = (
    "gateway is open: no master_key, any caller can use every model, with or without a key "
    "(set general_settings.master_key to require keys; see README 'Keys, budgets and spend')"
)
PUBLIC_LOCAL_KEY = (
    "the master key is the public local one from configs/default.yaml and the gateway listens on "
    "%s: anyone who can reach it can use the admin API and read the dashboard; set your own master key"
)


def start_warnings(master_key: str | None, host: str) -> list[str]:
    """The WARNING lines ``llmgate serve`` logs at start about its master key (none when all is well)."""
    if master_key is None:
        return [OPEN_GATEWAY]
    if master_key == LOCAL_MASTER_KEY and not _loopback(host):
        return [PUBLIC_LOCAL_KEY % host]
    return []


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False
