"""llmgate.cli."""
