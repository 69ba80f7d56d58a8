"""The ``stored_responses`` table: what llmgate keeps of a Responses API answer (migration 0010).

One row per response a client may read back or continue (``store`` not false): whose it is (the
caller's key id, ``master``, or NULL on an open gateway), the deployment that served it, the
response it continues, its input items and, when llmgate made the response itself (a deployment
that speaks only chat completions), the response as the client received it. A response a
Responses-speaking deployment made and keeps itself has no response here (``response_json`` NULL):
llmgate only remembers where it went, so reading it is forwarded there, and only for its owner.

Imported by ``store/models.py`` so the table is on its ``metadata``; ``store/responses.py`` reads
and writes it.
"""

from __future__ import annotations

import sqlalchemy as sa

from llmgate.store.columns import UTCDateTime, col, metadata

#: A response kept for ``previous_response_id`` and ``GET /v1/responses/{id}``.
sa.Table(
    "stored_responses",
    metadata,
    col("id", sa.String(128), primary_key=True),  # resp_..., the id the client was given
    col("owner", sa.String, null=True),  # the caller's key id, "master", or NULL (open gateway)
    col("deployment", sa.String),  # the deployment that served it
    col("created_at", UTCDateTime, index=True),
    col("previous_response_id", sa.String(128), null=True),
    col("input_json", sa.Text, null=True),  # its input items (NULL: the deployment keeps them)
    col("response_json", sa.Text, null=True),  # the response (NULL: the deployment keeps it)
)
