"""The canary releases' tables: each canary's state, and its log of events.

- ``canaries``: one row per canary, running or ended: the model group whose traffic it splits, its
  candidate, steps, gates, tolerances and stickiness (as JSON), where it stands (``status``,
  ``step_index``, ``percent``), where it came from (``config`` with the config's hash, ``cli``,
  ``api``), its times, the last evaluation of its gates, and ``version``, one more on every change
  (a writer that read version n refuses to write over version n+1). At most one canary per model
  is active (``running`` or ``paused``): a partial unique index says so, on both stores.
- ``canary_events``: what happened to a canary, in order (``start``, ``step``, ``pause``,
  ``resume``, ``promote``, ``rollback``, ``cancel``, ``evaluate``): who, when, at which percent,
  with what evidence. The decision log ``llmgate canary history`` and the dashboard show.

The requests a canary routed carry its id and their arm (``requests.canary_id``, ``requests.arm``,
in ``store/models.py``); the alerts' ``first_affected_at`` and ``resolved_at`` are there too.
Imported by ``store/models.py`` so the tables are on its ``metadata``; the schema change is
migration 0012; ``store/canaries.py`` reads and writes them.
"""

from __future__ import annotations

import sqlalchemy as sa

from llmgate.store.columns import UTCDateTime, col, metadata, serial_id

#: the statuses in which a canary splits traffic (at most one such canary per model)
ACTIVE_STATUSES = ("running", "paused")

#: A canary release of one model group: its definition and where it stands.
sa.Table(
    "canaries",
    metadata,
    col("id", sa.String, primary_key=True),  # the canary's id (default: the model's name)
    col("model", sa.String, index=True),  # the model group clients ask for (stable)
    col("candidate_json", sa.Text),  # {model, deployment, system_prompt, params}
    col("steps_json", sa.Text),  # [1, 5, 25, 50, 100]
    col("gates_json", sa.Text),  # ["errors", "latency", ..., "eval:evals/x.yaml"]
    col("tolerances_json", sa.Text),  # {gate: tolerance}: overrides of the defaults
    col("sticky", sa.String),  # user | session | key
    col("alpha", sa.Float),
    col("min_step_requests", sa.Integer),
    col("status", sa.String),  # running | paused | promoted | rolled_back | cancelled
    col("step_index", sa.Integer),
    col("percent", sa.Float),  # of the model's traffic to the candidate, now
    col("source", sa.String),  # config | cli | api
    col("config_hash", sa.String, null=True),  # a config canary's definition, hashed
    col("started_at", UTCDateTime),
    col("step_started_at", UTCDateTime),
    col("updated_at", UTCDateTime),
    col("ended_at", UTCDateTime, null=True),
    col("last_evaluation_json", sa.Text, null=True),  # the gates' results at the last evaluation
    col("version", sa.Integer),
    sa.Index(
        "ux_canaries_active_model",
        "model",
        unique=True,
        postgresql_where=sa.text("status IN ('running', 'paused')"),
        sqlite_where=sa.text("status IN ('running', 'paused')"),
    ),
)

#: One event of a canary: a step, a pause, a decision, an evaluation...
sa.Table(
    "canary_events",
    metadata,
    serial_id(),
    col("canary_id", sa.String, index=True),
    col("at", UTCDateTime),
    col("action", sa.String),  # start | step | pause | resume | promote | rollback | cancel | evaluate
    col("actor", sa.String),  # cli:<os user> | api:<key> | controller | config
    col("percent", sa.Float, null=True),  # the candidate's share after the event
    col("details_json", sa.Text, null=True),
)
