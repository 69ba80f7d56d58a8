"""Who is calling: API key checks (the master key now; virtual keys, teams and budgets later)."""

from llmgate.auth.keys import Authenticator, Identity

__all__ = ["Authenticator", "Identity"]
