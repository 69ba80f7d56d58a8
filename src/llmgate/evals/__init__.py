"""Eval suites: files in ``evals/``, run from the CLI, in CI and on a schedule, with regressions
flagged only when a paired test says so."""
