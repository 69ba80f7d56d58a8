"""The top-level ``llmgate:`` section: everything LiteLLM's format has no place for.

Storage, prompt logging, request limits, time zone and pricing, the recorder, HTTP and dashboard
hardening, alert sinks (``alerts``), eval schedules (``eval_schedules``), monitors and the
OpenTelemetry export, canary releases (``canaries``, ``canary_controller``: ``canary_settings.py``),
retention (``retention``: ``retention_settings.py``).
Every section here is ``Strict``: a key llmgate does not know is an error.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from llmgate.config.cache_settings import CacheSettings
from llmgate.config.canary_settings import CanaryControllerSettings, CanarySettings
from llmgate.config.hardening import HttpSettings, RecorderSettings, UiSettings
from llmgate.config.monitors import MonitorSettings
from llmgate.config.retention_settings import RetentionSettings
from llmgate.config.schema_base import Strict

__all__ = ["MIB", "AlertSettings", "EvalSchedule", "LlmgateSettings", "WebhookSettings"]

MIB = 1024 * 1024


class WebhookSettings(Strict):
    """``llmgate.alerts.webhooks[]``: where alerts are POSTed as JSON."""

    url: str
    # e.g. Authorization: os.environ/ALERT_WEBHOOK_TOKEN (None only where commands that just read
    # the store load the config without the variable set)
    headers: dict[str, str | None] | None = None
    timeout: float = Field(default=5.0, gt=0)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"must be an http:// or https:// URL, got {value!r}")
        return value


class AlertSettings(Strict):
    """``llmgate.alerts``: the sinks every alert (eval regressions, monitors) goes to."""

    webhooks: list[WebhookSettings] = Field(default_factory=list)
    log: bool = True  # one JSON line per alert on the ``llmgate.alerts`` logger


class EvalSchedule(Strict):
    """``llmgate.eval_schedules[]``: a suite run on a cron schedule by ``llmgate serve`` or
    ``llmgate scheduler``."""

    name: str | None = None
    cron: str  # 5 fields; a 6th is seconds (croniter's convention); in llmgate.time_zone
    suite: str  # suite file, relative to the config file
    models: list[str] | None = None  # default: the suite's own models
    repeat: int = Field(default=1, ge=1)
    concurrency: int = Field(default=4, ge=1)
    alert_on_regression: bool = True

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:

        # croniter: only when a config has eval schedules, off the gateway's start-up otherwise
        from croniter import CroniterError, croniter

        try:
            croniter(value, datetime(2000, 1, 1, tzinfo=UTC)).get_next(datetime)
        except (CroniterError, ValueError) as exc:
            raise ValueError(f"invalid cron expression {value!r}: {exc}") from None
        return value

    @property
    def label(self) -> str:
        return self.name or self.suite


class LlmgateSettings(Strict):
    """The top-level ``llmgate:`` section: everything LiteLLM's format has no place for."""

    database_url: str | None = None
    log_prompts: bool = True
    spill_dir: str | None = None
    max_request_body_bytes: int = Field(default=16 * MIB, ge=1024)
    upstream_pool_size: int = Field(default=512, ge=1)
    time_zone: str = "UTC"  # IANA name: where budget periods and report days begin
    pricing_file: str | None = None  # YAML/JSON prices for private models (relative to the config)
    user_budget_usd: Decimal | None = Field(default=None, ge=0)  # per user (a key's --user) and period
    user_budget_period: Literal["daily", "weekly", "monthly"] = "monthly"
    recorder: RecorderSettings = RecorderSettings()
    http: HttpSettings = HttpSettings()
    ui: UiSettings = UiSettings()
    alerts: AlertSettings = AlertSettings()
    eval_schedules: list[EvalSchedule] = Field(default_factory=list)
    monitors: MonitorSettings = MonitorSettings()
    # OpenTelemetry (traces with the GenAI conventions, GenAI metrics, evaluation events); see
    # telemetry/tracing.py. Export happens in the background, batched: it never holds a request.
    otel_exporter: Literal["none", "console", "otlp", "otlp_http", "otlp_grpc"] = "none"
    otel_endpoint: str | None = None  # collector: http://host:4318 (HTTP) or host:4317 (gRPC)
    otel_headers: dict[str, str] = Field(default_factory=dict)  # e.g. an auth header for the collector
    otel_capture_content: bool = False  # prompts and responses on spans (gen_ai.input/output.messages)
    otel_service_name: str = "llmgate"
    otel_metrics_interval_s: float = Field(default=30.0, gt=0)  # GenAI metrics export period
    # share of requests traced when the caller sent no traceparent (a caller's sampled flag is obeyed)
    otel_sample_rate: float = Field(default=1.0, ge=0, le=1)
    metrics_require_auth: bool = False  # GET /metrics: open (as scrape targets are) or admin only
    cache: CacheSettings = CacheSettings()  # the response cache (cache/): scope, bounds, per model group
    canaries: list[CanarySettings] = Field(default_factory=list)  # canary releases (routing/canaries.py)
    canary_controller: CanaryControllerSettings = CanaryControllerSettings()
    retention: RetentionSettings = RetentionSettings()  # how long records are kept (store/prune.py)

    @field_validator("eval_schedules")
    @classmethod
    def _unique_schedule_names(cls, value: list[EvalSchedule]) -> list[EvalSchedule]:
        seen: set[str] = set()
        for schedule in value:
            if schedule.label in seen:
                raise ValueError(f"two schedules are named {schedule.label!r}: give each a distinct name")
            seen.add(schedule.label)
        return value

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name such as Europe/Berlin)"
            ) from None
        return value
