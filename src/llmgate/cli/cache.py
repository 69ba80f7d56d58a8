"""``llmgate cache stats`` and ``llmgate cache clear [--model NAME] [--team ID]``: the response cache.

An in-process cache lives in the gateway that serves it, so these commands ask the running
gateway's admin API (``GET /admin/cache/stats``, ``POST /admin/cache/clear``) at ``--base-url``
(default ``http://127.0.0.1:4000``) with ``--api-key`` (the master key or an admin key; else
``LLMGATE_MASTER_KEY``, ``LLMGATE_API_KEY`` or the config's master key). With ``--config`` naming a
Redis cache and no ``--base-url``, they work on Redis directly (stats then has no hit counts nor the
semantic index's state: those are each gateway process's own; clear removes the semantic vectors
of what it clears as well).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer

from llmgate.cli.common import ConfigOption, config_from, fail
from llmgate.cli.report import TableFormat

if TYPE_CHECKING:
    from llmgate.cache.service import ResponseCache
    from llmgate.config import GatewayConfig

app = typer.Typer(help="The response cache: stats and clear.", no_args_is_help=True)

DEFAULT_BASE_URL = "http://127.0.0.1:4000"
TIMEOUT_S = 60.0


BaseUrl = Annotated[
    str | None,
    typer.Option(
        "--base-url",
        "--url",
        envvar="LLMGATE_BASE_URL",
        help=f"The running gateway (default {DEFAULT_BASE_URL}, or LLMGATE_BASE_URL).",
    ),
]
ApiKey = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        "--key",
        help="The master key or an admin key (default: LLMGATE_MASTER_KEY, LLMGATE_API_KEY, the config's).",
    ),
]


def _key(api_key: str | None, cfg: GatewayConfig | None) -> str | None:
    if api_key:
        return api_key
    from_env = os.environ.get("LLMGATE_MASTER_KEY") or os.environ.get("LLMGATE_API_KEY")
    if from_env:
        return from_env
    master = cfg.general_settings.master_key if cfg is not None else None
    return master.get_secret_value() if master is not None else None


def _call(method: str, path: str, base_url: str | None, key: str | None, body: Any = None) -> Any:
    """One admin API call; an error is one line and exit 1."""
    # httpx: only for the commands that call a gateway
    import httpx

    base = (base_url or DEFAULT_BASE_URL).rstrip("/").removesuffix("/v1")
    headers = {"authorization": f"Bearer {key}"} if key else {}
    try:
        response = httpx.request(method, base + path, json=body, headers=headers, timeout=TIMEOUT_S)
    except httpx.HTTPError as exc:
        fail(f"cannot reach the gateway at {base} ({type(exc).__name__}); is it running? (see --base-url)")
    try:
        data = response.json()
    except ValueError:
        data = None
    if response.status_code != 200:
        error = data.get("error") if isinstance(data, dict) else None
        message = error.get("message") if isinstance(error, dict) else response.text[:200]
        fail(f"the gateway answered {response.status_code}: {message}")
    return data


def _direct(cfg: GatewayConfig | None) -> ResponseCache | None:
    """The config's Redis cache, to work on directly (None: ask the gateway)."""
    if cfg is None:
        return None
    # the cache package (and the Redis client): only for a command that works on Redis itself
    from llmgate.cache.build import build_backend
    from llmgate.cache.policy import cache_policy
    from llmgate.cache.service import ResponseCache

    policy = cache_policy(cfg)
    if policy is None or policy.backend != "redis":
        return None
    return ResponseCache(policy, build_backend(policy), deployment=lambda _: None)


def _run(cache: ResponseCache, work: Callable[[ResponseCache], Awaitable[Any]]) -> Any:
    async def go() -> Any:
        try:
            return await work(cache)
        finally:
            await cache.close()

    return asyncio.run(go())


def _table(stats: dict[str, Any]) -> str:
    if not stats.get("enabled", True):
        return str(stats.get("detail") or "the response cache is off")
    lines = [
        f"{name:<10} {stats.get(name)}" for name in ("backend", "namespace", "scope", "entries", "bytes")
    ]
    index: dict[str, Any] | None = stats.get("semantic_index")
    if index is not None:
        state = "ready" if index.get("ready") else "loading"
        kinds = ("busy", "dropped", "errors", "rebuilt")
        tally = ", ".join(f"{kind} {index.get(kind, 0)}" for kind in kinds)
        lines.append(f"{'semantic':<10} {state}, {index.get('entries', 0)} entries ({tally})")
    models: dict[str, dict[str, int]] = stats.get("models") or {}
    if models:
        width = max(len("model"), *(len(m) for m in models))
        columns = ("hit", "semantic-hit", "miss", "bypass", "errors")
        lines.append("")
        lines.append(f"{'model':<{width}}  " + "  ".join(f"{c:>12}" for c in columns))
        for model, counts in models.items():
            lines.append(f"{model:<{width}}  " + "  ".join(f"{counts.get(c, 0):>12}" for c in columns))
    return "\n".join(lines)


@app.command("stats")
def stats(
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    config: ConfigOption = None,
    format: Annotated[TableFormat, typer.Option("--format", help="table or json.")] = TableFormat.table,
) -> None:
    """What the cache holds (backend, entries, bytes) and its hits, misses, bypasses and errors by model."""
    cfg = config_from(config, for_store_only=True) if config else None
    cache = None if base_url else _direct(cfg)
    if cache is not None:
        data = {"enabled": True, **_run(cache, lambda c: c.stats())}
    else:
        data = _call("GET", "/admin/cache/stats", base_url, _key(api_key, cfg))
    typer.echo(
        orjson.dumps(data, option=orjson.OPT_INDENT_2).decode()
        if format is TableFormat.json
        else _table(data)
    )


@app.command("clear")
def clear(
    model: Annotated[str | None, typer.Option("--model", help="Only this model group's entries.")] = None,
    team: Annotated[str | None, typer.Option("--team", help="Only this team's entries.")] = None,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    config: ConfigOption = None,
) -> None:
    """Forget cached answers: of one model group and/or team, or all of them."""
    cfg = config_from(config, for_store_only=True) if config else None
    cache = None if base_url else _direct(cfg)
    if cache is not None:
        cleared = _run(cache, lambda c: c.clear(model, team))
    else:
        body = {"model": model, "team": team}
        cleared = _call("POST", "/admin/cache/clear", base_url, _key(api_key, cfg), body)["cleared"]
    what = " and ".join(part for part in (model and f"model {model}", team and f"team {team}") if part)
    typer.echo(
        f"cleared {cleared} cached answer{'s' if cleared != 1 else ''}" + (f" ({what})" if what else "")
    )
