"""Spend in LiteLLM's shapes: ``/spend/logs`` rows and ``/global/spend/report``.

For scripts written against LiteLLM's proxy. A spend log row is one recorded request
(``store/spend_logs.py``): ``request_id``, ``api_key`` (the key's token, llmgate's key id: never
the secret, never its hash), ``spend``, tokens, ``startTime`` / ``endTime``, ``model`` (the
upstream model) and ``model_group`` (the name asked for), ``user`` (the key's internal user, else
the request's ``user``), ``team_id``, ``metadata``, ``request_tags``, ``cache_hit`` (``"True"``
when the response cache answered it) and ``cache_key``; never a prompt or a response. With
``start_date`` and ``end_date`` and no ``summarize=false``, LiteLLM answers a summary per day
instead (``spend_log_days``).

The report (``global_spend_report``) sums ``store/spend.py``'s ``spend_sums`` per local day (in
``llmgate.time_zone``) and team or customer, with each (key, model)'s spend and tokens, or per
key with each model's (``group_by=api_key``, or when ``api_key`` / ``internal_user_id`` filter it).
A request's ``user`` is llmgate's one user column, so ``customer`` is the key's internal user when
it has one, else the ``user`` the request sent. Money is a float here, as in LiteLLM's answers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine

from llmgate.store.rollup_reads import spend_sums
from llmgate.store.spend import SpendSums
from llmgate.store.spend_logs import SpendRow

#: llmgate's endpoint -> LiteLLM's call_type
CALL_TYPES = {
    "chat/completions": "acompletion",
    "completions": "atext_completion",
    "embeddings": "aembedding",
    "responses": "aresponses",
    "messages": "anthropic_messages",
    "images/generations": "aimage_generation",
    "audio/transcriptions": "atranscription",
    "audio/speech": "aspeech",
}
GROUP_BYS = ("team", "customer", "api_key")
UNASSIGNED_TEAM = "Unassigned Team"


def spend_log(row: SpendRow, key_aliases: Mapping[str, str]) -> dict[str, Any]:
    """One request as LiteLLM's ``LiteLLM_SpendLogs`` row."""
    ended = row.created_at + timedelta(milliseconds=row.latency_ms)
    alias = key_aliases.get(row.key_id) if row.key_id else None
    return {
        "request_id": row.id,
        "call_type": CALL_TYPES.get(row.endpoint, row.endpoint),
        "api_key": row.key_id or "",
        "spend": float(row.cost_usd),
        "total_tokens": row.total_tokens,
        "prompt_tokens": row.prompt_tokens,
        "completion_tokens": row.completion_tokens,
        "startTime": row.created_at.isoformat(),
        "endTime": ended.isoformat(),
        "model": row.upstream_model or row.model,
        "model_group": row.model,
        "model_id": row.deployment,
        "custom_llm_provider": row.provider,
        "user": row.user or "",
        "team_id": row.team_id,
        "status": "success" if row.status == "success" else "failure",
        "metadata": {
            **row.metadata,
            "user_api_key": row.key_id,
            "user_api_key_alias": alias,
            "user_api_key_team_id": row.team_id,
            "user_api_key_user_id": row.user,
            "status_code": row.status_code,
        },
        "request_tags": [f"{name}:{value}" for name, value in row.tags.items()],
        "cache_hit": str(row.cache_hit),  # LiteLLM's "True" | "False"
        "cache_key": row.cache_key or "",
    }


def spend_log_days(rows: list[SpendRow], tz: str) -> list[dict[str, Any]]:
    """LiteLLM's summary of ``/spend/logs`` over dates: per local day, the spend, and the spend
    per model, per user and per key."""
    zone = ZoneInfo(tz)
    days: dict[str, dict[str, Any]] = {}
    for row in rows:
        day = row.created_at.astimezone(zone).date().isoformat()
        entry = days.setdefault(
            day, {"startTime": day, "spend": Decimal(0), "models": {}, "users": {}, "api_keys": {}}
        )
        entry["spend"] += row.cost_usd
        for field, name in (("models", row.model), ("users", row.user), ("api_keys", row.key_id)):
            if name:
                entry[field][name] = entry[field].get(name, Decimal(0)) + row.cost_usd
    return [_floats(days[day]) for day in sorted(days)]


def _floats(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {k: _floats(v) for k, v in value.items()}
    return value


def global_spend_report(
    engine: Engine,
    since: datetime,
    until: datetime,
    *,
    group_by: str,
    tz: str,
    team_names: Mapping[str, str],
    key_ids: Collection[str] | None = None,
) -> list[dict[str, Any]]:
    """LiteLLM's ``/global/spend/report`` over ``[since, until)``; ``key_ids`` keeps only those keys'
    requests (and makes it the per-key shape)."""
    if group_by not in GROUP_BYS:
        raise ValueError(f"group_by must be one of {', '.join(GROUP_BYS)}")
    if group_by == "api_key" or key_ids is not None:
        sums = spend_sums(engine, ["key", "model"], since, until, tz)
        return _per_key([s for s in sums if key_ids is None or s.groups[0] in key_ids])
    owner = "team" if group_by == "team" else "user"
    sums = spend_sums(engine, ["date", owner, "key", "model"], since, until, tz)
    per_day: dict[Any, dict[Any, list[SpendSums]]] = defaultdict(lambda: defaultdict(list))
    for s in sums:
        per_day[s.groups[0]][s.groups[1]].append(s)
    out = []
    for day in sorted(per_day):
        groups = []
        for name, rows in sorted(per_day[day].items(), key=lambda item: (item[0] is None, str(item[0]))):
            details = [
                {
                    "model": r.groups[3],
                    "spend": float(r.cost_usd),
                    "total_tokens": r.prompt_tokens + r.completion_tokens,
                    "api_key": r.groups[2] or "",
                }
                for r in rows
            ]
            total = float(sum((r.cost_usd for r in rows), Decimal(0)))
            if owner == "team":
                label = team_names.get(name, name) if name is not None else UNASSIGNED_TEAM
                groups.append(
                    {"team_name": label, "team_id": name, "total_spend": total, "metadata": details}
                )
            else:
                groups.append({"customer": name, "total_spend": total, "metadata": details})
        key = "teams" if owner == "team" else "customers"
        out.append({"group_by_day": f"{day.isoformat()}T00:00:00+00:00", key: groups})
    return out


def _per_key(sums: list[SpendSums]) -> list[dict[str, Any]]:
    per_key: dict[Any, list[SpendSums]] = defaultdict(list)
    for s in sums:
        per_key[s.groups[0]].append(s)
    out = []
    for key_id, rows in sorted(per_key.items(), key=lambda item: str(item[0])):
        out.append(
            {
                "api_key": key_id or "",
                "total_cost": float(sum((r.cost_usd for r in rows), Decimal(0))),
                "total_input_tokens": sum(r.prompt_tokens for r in rows),
                "total_output_tokens": sum(r.completion_tokens for r in rows),
                "model_details": [
                    {
                        "model": r.groups[1],
                        "total_cost": float(r.cost_usd),
                        "total_input_tokens": r.prompt_tokens,
                        "total_output_tokens": r.completion_tokens,
                    }
                    for r in sorted(rows, key=lambda r: str(r.groups[1]))
                ],
            }
        )
    return out
