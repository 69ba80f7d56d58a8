"""The version of llmgate: the one place it is written (pyproject.toml reads it from here for the
``llmgate-server`` distribution). Imports nothing, so any layer, and ``llmgate --version``, may read it."""

__version__ = "0.1.0"
