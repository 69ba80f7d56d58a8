"""store.prune on SQLite and PostgreSQL: exactly what is older than each cutoff goes, bodies are
blanked in place (the row's figures stay), in batches of ``batch_size`` (one transaction each), a
dry run counts the same and changes nothing, and what is never pruned stays: hourly rollups, a drift
baseline's samples, a baseline eval run, datasets."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine

from llmgate.config.retention_settings import RetentionSettings
from llmgate.store.models import table
from llmgate.store.partitions import is_partitioned, month_partitions
from llmgate.store.prune import BODY_COLUMNS, prune
from llmgate.store.records import insert_records

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
DAYS = 100  # one request per 6 hours over this many days


def request(at: datetime, n: int) -> dict[str, Any]:
    return {
        "id": uuid.uuid4().hex,
        "created_at": at,
        "endpoint": "chat/completions",
        "model": "gpt",
        "status": "success",
        "status_code": 200,
        "request_json": '{"messages": [{"role": "user", "content": "hello ' + str(n) + '"}]}',
        "response_text": f"answer {n}",
        "tool_calls_json": "[]",
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "cost_usd": Decimal("0.0000125"),
        "latency_ms": 12.5,
    }


def moments() -> list[datetime]:
    return [NOW - timedelta(hours=6 * i, minutes=1) for i in range(DAYS * 4)]


def seed(engine: Engine) -> list[datetime]:
    times = moments()
    insert_records(engine, [request(at, n) for n, at in enumerate(times)])
    with engine.begin() as conn:
        conn.execute(
            table("audit_log").insert(),
            [{"at": at, "actor": "master", "action": "key.create", "target": "k"} for at in times],
        )
        samples = table("monitor_samples")
        conn.execute(
            samples.insert(),
            [
                {
                    "record_id": uuid.uuid4().hex,
                    "created_at": at,
                    "sampled_at": at,
                    "model": "gpt",
                    "route": "chat/completions",
                    "embedder": "e",
                    "dim": 3,
                    "prompt_excerpt": "hello",
                    "rag_json": "{}",
                }
                for at in times
            ],
        )
        # a drift baseline over days 80..90: its samples stay however old
        conn.execute(
            table("drift_baselines").insert(),
            {
                "model": "gpt",
                "route": "chat/completions",
                "since": NOW - timedelta(days=90),
                "until": NOW - timedelta(days=80),
                "set_at": NOW,
            },
        )
        runs = table("eval_runs")
        for name, days in (("old", 70), ("baseline", 75), ("new", 5)):
            conn.execute(
                runs.insert(),
                {
                    "id": name,
                    "suite": "s",
                    "suite_hash": "h",
                    "model": "gpt",
                    "status": "passed",
                    "started_at": NOW - timedelta(days=days),
                },
            )
            conn.execute(
                table("eval_results").insert(),
                [{"run_id": name, "case_id": f"c{i}", "passed": True, "score": 1.0} for i in range(3)],
            )
        conn.execute(
            table("eval_baselines").insert(),
            {"suite": "s", "model": "gpt", "run_id": "baseline", "set_at": NOW},
        )
    return times


def count(engine: Engine, name: str, *where: Any) -> int:
    t = table(name)
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(t).where(*where)).scalar_one())


def with_bodies(engine: Engine) -> int:
    t = table("requests")
    return count(engine, "requests", sa.or_(*(t.c[c].is_not(None) for c in BODY_COLUMNS["requests"])))


SETTINGS = RetentionSettings(
    bodies="30d", requests="60d", monitor_samples="45d", eval_results="60d", audit_log="90d", batch_size=100
)


def expected(times: list[datetime], days: int) -> int:
    return sum(1 for at in times if at < NOW - timedelta(days=days))


def test_prune_deletes_exactly_what_is_older_than_each_cutoff(engine: Engine) -> None:
    times = seed(engine)
    total = len(times)
    old_rows, old_bodies = expected(times, 60), expected(times, 30) - expected(times, 60)
    baseline_samples = sum(1 for at in times if NOW - timedelta(days=90) <= at < NOW - timedelta(days=80))
    commits: list[int] = []
    event.listen(engine, "commit", lambda conn: commits.append(1))

    with engine.connect() as conn:
        partitioned = is_partitioned(conn)
        months = set(month_partitions(conn)) if partitioned else set()
    # PostgreSQL: prune first creates the coming months' partitions, a transaction each time
    created = 1 if partitioned and {(2026, 12), (2027, 1), (2027, 2)} - months else 0
    dry = prune(engine, SETTINGS, now=NOW, dry_run=True)
    assert not commits, "a dry run writes nothing"
    assert count(engine, "requests") == total and with_bodies(engine) == total
    by_step = {(r.table, r.what): r.count for r in dry}
    assert by_step[("requests", "rows")] == old_rows
    assert by_step[("requests", "bodies")] == old_bodies

    done = prune(engine, SETTINGS, now=NOW)
    assert {(r.table, r.what): r.count for r in done} == by_step, "the dry run counted what went"
    requests = table("requests")
    assert count(engine, "requests") == total - old_rows
    assert count(engine, "requests", requests.c.created_at < NOW - timedelta(days=60)) == 0
    # bodies older than 30 days blanked, the rows' figures kept; younger ones untouched
    assert with_bodies(engine) == total - expected(times, 30)
    assert (
        count(
            engine,
            "requests",
            requests.c.response_text.is_not(None),
            requests.c.created_at < NOW - timedelta(days=30),
        )
        == 0
    )
    with engine.connect() as conn:
        kept = conn.execute(
            sa.select(requests.c.cost_usd, requests.c.prompt_tokens, requests.c.latency_ms).where(
                requests.c.created_at < NOW - timedelta(days=30)
            )
        ).all()
    assert kept and all(r == (Decimal("0.0000125"), 10, 12.5) for r in kept)
    # batches: ceil(n / 100) transactions per step (one more when n is a multiple: the empty one)
    rows_step = next(r for r in done if (r.table, r.what) == ("requests", "rows"))
    cutoff = NOW - timedelta(days=60)
    # PostgreSQL: the months wholly before the cutoff are dropped whole (store/partitions.py), one
    # transaction each; only the cutoff's own month is deleted from in batches
    months_before = sorted({(at.year, at.month) for at in times if at < cutoff.replace(day=1, hour=0)})
    in_months = sum(1 for at in times if at < cutoff.replace(day=1, hour=0)) if partitioned else 0
    assert rows_step.partitions == (len(months_before) if partitioned else 0)
    assert rows_step.batches == (old_rows - in_months) // 100 + 1
    assert len(commits) == sum(r.batches + r.partitions for r in done) + created
    # monitor samples: older than 45 days go, but not a drift baseline's; their excerpts are blanked
    samples = table("monitor_samples")
    assert count(engine, "monitor_samples") == total - expected(times, 45) + baseline_samples
    assert count(engine, "monitor_samples", samples.c.prompt_excerpt.is_not(None)) == total - expected(
        times, 30
    )
    # eval results: the old run and its cases go; the baseline run stays however old
    with engine.connect() as conn:
        assert set(conn.execute(sa.select(table("eval_runs").c.id)).scalars()) == {"baseline", "new"}
    assert count(engine, "eval_results") == 6
    assert count(engine, "audit_log") == total - expected(times, 90)
    # a second run finds nothing left
    again = prune(engine, SETTINGS, now=NOW)
    assert all(r.count == 0 for r in again)


def test_forever_deletes_nothing(engine: Engine) -> None:
    times = seed(engine)
    assert prune(engine, RetentionSettings(), now=NOW) == []
    assert count(engine, "requests") == len(times) and with_bodies(engine) == len(times)


def test_kept_responses_with_content_go_with_the_bodies(engine: Engine) -> None:
    kept = table("stored_responses")
    rows = [
        {
            "id": "resp_old_content",
            "deployment": "d",
            "created_at": NOW - timedelta(days=40),
            "input_json": "[]",
        },
        {"id": "resp_old_pointer", "deployment": "d", "created_at": NOW - timedelta(days=40)},
        {"id": "resp_ancient_pointer", "deployment": "d", "created_at": NOW - timedelta(days=70)},
        {"id": "resp_new", "deployment": "d", "created_at": NOW - timedelta(days=1), "response_json": "{}"},
    ]
    with engine.begin() as conn:
        conn.execute(
            kept.insert(),
            [
                {"owner": None, "previous_response_id": None, "input_json": None, "response_json": None, **r}
                for r in rows
            ],
        )
    prune(engine, SETTINGS, now=NOW)
    with engine.connect() as conn:
        left = {r for (r,) in conn.execute(sa.select(kept.c.id))}
    assert left == {"resp_old_pointer", "resp_new"}


def test_rollups_are_never_pruned(engine: Engine) -> None:
    seed(engine)
    rollups = sa.table("rollup_hours", sa.column("hour"), sa.column("grain"), sa.column("requests"))
    query = sa.select(rollups.c.hour, rollups.c.grain, rollups.c.requests).order_by(
        rollups.c.hour, rollups.c.grain
    )
    with engine.connect() as conn:
        before = conn.execute(query).all()
    assert sum(r.requests for r in before) == len(moments()), "the writer rolled the rows up"
    prune(engine, SETTINGS, now=NOW)
    with engine.connect() as conn:
        assert conn.execute(query).all() == before
