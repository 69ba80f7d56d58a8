"""llmgate.server."""
