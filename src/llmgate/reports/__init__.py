"""Spend and budget reports for finance: the queries behind ``llmgate report`` and ``/admin/spend``."""
