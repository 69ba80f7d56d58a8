"""``llmgate logs ID`` as text: one recorded request whole, every column, bodies in full.

The fields come first, one per line (times in ``llmgate.time_zone`` and in UTC, the cost as the
exact decimal the store holds, the path each attempt took), then the request body, the response
text and the tool calls, unabridged. Columns this view does not know by name are shown too, under
their own names, so nothing the store holds is left out. A record holds text that clients chose:
control characters other than newlines and tabs are shown escaped (``\\x1b``), never sent to the
terminal.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from llmgate.store.money import cost_text

#: columns shown in their own sections (or not at all, as stored JSON) rather than as fields
_BODIES = ("request_json", "response_text", "tool_calls_json", "metadata_json")
_FIELDS = (
    "id",
    "created_at",
    "endpoint",
    "model",
    "deployment",
    "provider",
    "upstream_model",
    "status",
    "status_code",
    "error_type",
    "error_message",
    "stream",
    "finish_reason",
    "key_id",
    "team_id",
    "user",
    "auth_identity",
    "tags_json",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "tokens_estimated",
    "cost_usd",
    "cost_unknown",
    "cache_hit",
    "cache",
    "cache_key",
    "cache_similarity",
    "saved_usd",
    "latency_ms",
    "ttft_ms",
    "attempts",
    "attempts_json",
    "prompt_hash",
    "prompt_chars",
    "response_chars",
)
_LABELS = {
    "created_at": "time",
    "model": "model asked for",
    "key_id": "key",
    "team_id": "team",
    "tags_json": "tags",
    "cost_usd": "cost $",
    "saved_usd": "saved $",
    "attempts_json": "path",
    "latency_ms": "latency ms",
    "ttft_ms": "ttft ms",
}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def render(row: dict[str, Any], tz: str, key_alias: str | None = None) -> str:
    """The record as text (see the module docstring)."""
    names = [name for name in _FIELDS if name in row]
    names += [name for name in row if name not in _FIELDS and name not in _BODIES]
    width = max(len(_LABELS.get(name, name.replace("_", " "))) for name in names)
    lines = []
    for name in names:
        label = _LABELS.get(name, name.replace("_", " "))
        value = _field(name, row, tz, key_alias).replace("\n", "\n" + " " * (width + 2))
        lines.append(f"{label:<{width}}  {value}")
    for title, text in (
        ("request", _pretty_json(row.get("request_json"))),
        ("response", row.get("response_text")),
        ("tool calls", _pretty_json(row.get("tool_calls_json"))),
        ("metadata", _pretty_json(row.get("metadata_json"))),
    ):
        if text:
            lines += ["", f"{title}:", text]
    return safe_text("\n".join(lines))


def safe_text(text: str) -> str:
    """``text`` with control characters (other than newline and tab) escaped as ``\\xNN``."""
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


def _field(name: str, row: dict[str, Any], tz: str, key_alias: str | None) -> str:
    value = row[name]
    if value is None:
        return "-"
    if name == "created_at" and isinstance(value, datetime):
        local = value.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M:%S.%f")
        return f"{local} {tz}  ({value.isoformat()})"
    if name == "key_id" and key_alias:
        return f"{key_alias} ({value})"
    if name == "tags_json":
        tags = _json(value)
        if isinstance(tags, dict):
            return ", ".join(f"{k}={v}" for k, v in tags.items())
    if name == "attempts_json":
        return _path(_json(value))
    if isinstance(value, Decimal):
        return cost_text(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _path(attempts: Any) -> str:
    """Each attempt on a line of its own: deployment (provider), outcome, latency."""
    if not isinstance(attempts, list):
        return str(attempts)
    parts: list[str] = []
    for attempt in attempts:
        if not isinstance(attempt, dict):
            continue
        outcome = "ok" if attempt.get("status") == "success" else f"✗ {attempt.get('status_code') or ''}"
        error = f" {attempt['error_type']}" if attempt.get("error_type") else ""
        parts.append(
            f"{len(parts) + 1}. {attempt.get('deployment')} ({attempt.get('provider')}) "
            f"{outcome.strip()}{error}, {attempt.get('latency_ms')} ms"
        )
    return "\n".join(parts) or "-"


def _json(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def _pretty_json(text: str | None) -> str | None:
    if not text:
        return None
    value = _json(text)
    if isinstance(value, str):
        return value
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()
