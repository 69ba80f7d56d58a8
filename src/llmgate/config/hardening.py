"""The limits that protect the gateway from hostile or broken clients and from its own faults.

``llmgate.http`` bounds what a client may send before and while it is served (the header block,
slow senders, JSON nesting, ``n``); ``llmgate.recorder`` says how records are written and what
happens when no record can be kept; ``llmgate.ui`` throttles dashboard logins. Defaults follow
what established web servers and gateways do; the README's "Security" section lists them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from llmgate.config.schema_base import Strict

KIB = 1024


class HttpSettings(Strict):
    """``llmgate.http``: limits at the edge, applied before authentication."""

    # the whole request header block (request line included): past it, 431 and the connection closes
    max_header_bytes: int = Field(default=64 * KIB, ge=1024)
    # each x-llmgate-* header the gateway records (context, tags, ...): past it, 431
    max_recorded_header_bytes: int = Field(default=16 * KIB, ge=256)
    # Apache mod_reqtimeout's rule: a first deadline for the header block and one for the body, each
    # extended only while data arrives at min_rate_bytes_per_s; a slower client gets 408 and is closed.
    header_timeout_s: float = Field(default=20.0, gt=0)
    body_timeout_s: float = Field(default=20.0, gt=0)
    min_rate_bytes_per_s: int = Field(default=500, ge=0)
    # JSON bodies nested deeper than this are refused with 400 (``param`` names the field)
    max_json_depth: int = Field(default=64, ge=4, le=512)
    # ``n`` (choices per request) past this is refused with 400, for every provider
    max_n: int = Field(default=128, ge=1)
    # FastAPI's Swagger UI at /docs loads its scripts and styles from a CDN (jsdelivr), so it is off
    # unless asked for; the OpenAPI schema is always served at /openapi.json
    swagger_ui: bool = False


class RecorderSettings(Strict):
    """``llmgate.recorder``: the record pipeline (see ``recording/recorder.py``)."""

    queue_size: int = Field(default=10_000, ge=1)  # past it, records spill to disk
    batch_size: int = Field(default=500, ge=1)
    flush_interval_s: float = Field(default=0.25, gt=0)
    retry_interval_s: float = Field(default=2.0, gt=0)
    # Prepare and insert records in a writer process (one per gateway worker), off the event loop's
    # core; false keeps them in the gateway process.
    process: bool = True
    # When neither the store nor the spill directory can take records: keep serving (records are at
    # risk, and say so) or refuse new requests with 503 until one of them is back.
    on_unrecordable: Literal["serve", "refuse"] = "serve"


class UiSettings(Strict):
    """``llmgate.ui``: the dashboard's login."""

    # failed logins allowed per client address, and per key prefix, in a sliding minute
    max_login_failures_per_minute: int = Field(default=5, ge=1)
