"""llmgate.server.routes."""
