"""Canary releases: a candidate takes a growing share of a model group's traffic, is compared with
the stable deployments on the same window, and is promoted step by step or rolled back on its own.

- ``sequential``: always-valid confidence sequences (normal mixture, Robbins; the mSPRT of Johari
  et al.): a bound that may be read after every request without inflating false alarms.
- ``evidence``: running aggregates per arm, updated incrementally from the store's rows.
- ``gates``: one verdict per gate (``pass`` / ``fail`` / ``undecided`` / ``no_data``) on that evidence.
- ``decide``: rollback, promote or hold, from the gates' verdicts.

Pure numpy and math: nothing here imports scipy, torch or faiss (what the drift gate needs from the
monitors is injected by the server).
"""
