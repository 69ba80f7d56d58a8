"""Model aliases to deployments: selection (router), the retry/fallback loop (attempts), the failure
table (policy), cooldowns and circuits (health, shared through Redis by shared)."""

from llmgate.routing.router import Router

__all__ = ["Router"]
