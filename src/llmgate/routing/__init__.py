"""Model aliases to deployments: selection now; retries, fallbacks and circuit breakers later."""

from llmgate.routing.router import Router

__all__ = ["Router"]
