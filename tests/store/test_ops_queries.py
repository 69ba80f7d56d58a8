"""store.ops's queries on SQLite and PostgreSQL, on the store of ``support/ops_seed.py``: per alert
kind the summed times to detect and to resolve (found through each source the store keeps), the
requests per model group and deployment with fallbacks and retries, the canaries with their
candidate requests, and monitoring coverage. Expectations come from the seed's truths."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine

from llmgate.store import ops
from support.ops_seed import (
    ALERTS,
    CANARIES,
    EVAL_RUNS,
    REQUESTS,
    SAMPLED,
    SINCE,
    UNTIL,
    SeedRequest,
    all_requests,
    seed,
)


@pytest.fixture
def seeded(engine: Engine) -> Engine:
    seed(engine)
    return engine


def test_alert_sums_find_each_start_and_end(seeded: Engine) -> None:
    sums = {a.kind: a for a in ops.alert_sums(seeded, SINCE, UNTIL)}
    in_window = [a for a in ALERTS if a.in_window]
    assert sorted(sums) == sorted({a.kind for a in in_window})
    for kind, line in sums.items():
        mine = [a for a in in_window if a.kind == kind]
        incidents = [a for a in mine if not a.notice]
        detected = [a.detect for a in incidents if a.detect is not None]
        resolved = [a.resolve for a in incidents if a.resolve is not None]
        assert line.alerts == len(mine), kind
        assert line.notices == len(mine) - len(incidents), kind
        assert line.detected == len(detected), kind
        assert line.detect_s == pytest.approx(sum(d.total_seconds() for d in detected), abs=0.01), kind
        assert line.resolved == len(resolved), kind
        assert line.resolve_s == pytest.approx(sum(r.total_seconds() for r in resolved), abs=0.01), kind


def test_the_alerts_own_columns_win_and_the_canary_rollback_ends_its_alert(seeded: Engine) -> None:
    sums = {a.kind: a for a in ops.alert_sums(seeded, SINCE, UNTIL)}
    # the condition says 2 h and 40 min; the alert's own columns say 10 and 20 min
    assert (sums["drift.output"].detect_s, sums["drift.output"].resolve_s) == pytest.approx((600, 1200))
    rolled_back = sums["canary.rolled_back"]
    assert (rolled_back.detect_s, rolled_back.resolve_s) == pytest.approx((120, 5))
    # a scheduled run that raised names no run: counted, not timed
    assert (sums["eval.error"].alerts, sums["eval.error"].detected, sums["eval.error"].resolved) == (2, 0, 0)


def test_an_empty_window_has_no_alert_kinds(seeded: Engine) -> None:
    assert ops.alert_sums(seeded, UNTIL + timedelta(days=1), UNTIL + timedelta(days=2)) == []


def test_availability_per_group_and_deployment(seeded: Engine) -> None:
    by_group, by_deployment = ops.availability(seeded, SINCE, UNTIL)
    for key, found in ((lambda r: r.model, by_group), (lambda r: r.deployment, by_deployment)):
        expected: dict[object, list[SeedRequest]] = defaultdict(list)
        for request in all_requests():
            if request.in_window:
                expected[key(request)].append(request)
        assert set(found) == set(expected)
        for name, requests in expected.items():
            sums = found[name]
            assert sums.requests == len(requests), name
            assert sums.rejected == sum(r.rejected for r in requests), name
            assert sums.succeeded == sum(r.status == "success" for r in requests), name
            assert sums.first_try == sum(r.status == "success" and len(r.attempts) <= 1 for r in requests), (
                name
            )
            assert sums.with_fallback == sum(r.fallback for r in requests), name
            assert sums.with_retry == sum(r.retry for r in requests), name


def test_chat_by_hand(seeded: Engine) -> None:
    chat = ops.availability(seeded, SINCE, UNTIL)[0]["chat"]
    # 6 requests: 1 refused (429), 4 answered, of which 1 at the first attempt; fallbacks: the one
    # rescued by the backup group and the failed one that reached it; retries: three
    assert (chat.requests, chat.rejected, chat.succeeded, chat.first_try) == (6, 1, 4, 1)
    assert (chat.with_fallback, chat.with_retry) == (2, 3)


def test_classify_attempts() -> None:
    def attempts(*groups: str | None) -> list[dict[str, object]]:
        return [
            {"deployment": f"d{i}", "group": g} if g else {"deployment": f"d{i}"}
            for i, g in enumerate(groups)
        ]

    assert ops.classify_attempts(attempts("a")) == (False, False)
    assert ops.classify_attempts(attempts("a", "a")) == (False, True)
    assert ops.classify_attempts(attempts("a", "b")) == (True, False)
    assert ops.classify_attempts(attempts("a", "a", "b")) == (True, True)
    assert ops.classify_attempts(attempts(None, None)) == (False, True)
    assert ops.classify_attempts(attempts("a", None)) == (False, True)


def test_canaries_with_candidate_requests_to_the_decision(seeded: Engine) -> None:
    rows = {row.id: row for row in ops.canary_rows(seeded, SINCE, UNTIL)}
    listed = [c for c in CANARIES if c.listed]
    assert sorted(rows) == sorted(c.id for c in listed) and "old" not in rows
    for canary in listed:
        row = rows[canary.id]
        assert (row.status, row.started_at, row.ended_at) == (
            canary.status,
            canary.started_at,
            canary.ended_at,
        )
        assert row.candidate_requests == canary.candidate_before, canary.id
    assert rows["chat-v2"].candidate == {"model": "canary-chat-next"}


def test_coverage(seeded: Engine) -> None:
    found = ops.coverage(seeded, SINCE, UNTIL)
    in_window = [r for r in all_requests() if r.in_window]
    models = sorted(
        {m for _, m, trigger, started in EVAL_RUNS if trigger == "schedule" and SINCE <= started < UNTIL}
    )
    assert found.requests == len(in_window)
    assert found.sampled == sum(REQUESTS[i].in_window for i in SAMPLED)
    assert found.eval_models == models == ["chat"]
    assert found.eval_covered == sum(r.model in models for r in in_window)


def test_an_open_ended_range(seeded: Engine) -> None:
    found = ops.coverage(seeded, SINCE, None)
    assert found.requests == sum(r.created_at >= SINCE for r in all_requests())
