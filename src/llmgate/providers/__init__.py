"""llmgate.providers."""
