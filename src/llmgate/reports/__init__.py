"""Spend and budget reports for finance (``/admin/spend``) and the operations report
(``/admin/report/ops``): what ``llmgate report`` prints."""
