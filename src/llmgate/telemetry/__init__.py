"""llmgate.telemetry."""
