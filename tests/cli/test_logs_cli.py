"""``llmgate logs`` through the CLI runner: each filter, ``--until``, times in ``llmgate.time_zone``,
``logs ID`` whole, JSON.

The filter tests read a store the gateway itself recorded: requests sent over real HTTP with the
``openai`` SDK (and one hand-made bad body) under two virtual keys, a team, end users and tags,
some of them failing (a key's rate limit, an unknown model, a bad body, an upstream 500). They run
on SQLite and, when LLMGATE_TEST_DATABASE_URL is set, on PostgreSQL too. The time tests insert rows
at chosen instants with the recorder's own ``insert_records``, around midnight in New York.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import openai
import pytest
import yaml
from click.testing import Result
from typer.testing import CliRunner

from llmgate.cli.main import app
from llmgate.store.db import create_engine_for
from llmgate.store.migrate import upgrade
from llmgate.store.records import insert_records
from support.configs import MASTER_KEY, upstream_config
from support.gateway import RunningGateway
from support.keys import add_key, add_team
from support.postgres import postgres_schema
from support.upstream import FakeUpstream, Fault

TZ = "America/New_York"
LONG_TAIL = "the very end of a long prompt"
LONG_PROMPT = "Summarise this. " + "lorem ipsum " * 400 + LONG_TAIL


@dataclass
class Recorded:
    config: Path
    ids: dict[str, str]  # what each request was -> its record id
    billing_key_id: str


def logs(config: Path, *args: str) -> Result:
    return CliRunner().invoke(app, ["logs", "--config", str(config), *args])


def found(recorded: Recorded, *args: str) -> set[str]:
    """The names of the requests ``logs --format json`` lists with ``args``."""
    result = logs(recorded.config, "--format", "json", *args)
    assert result.exit_code == 0, result.output
    by_id = {record_id: name for name, record_id in recorded.ids.items()}
    return {by_id[row["id"]] for row in json.loads(result.stdout)}


def _request_id(call: Any) -> str:
    try:
        raw = call()
    except openai.APIStatusError as exc:
        return str(exc.response.headers["x-llmgate-request-id"])
    return str(raw.headers["x-llmgate-request-id"])


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('logs') / 'store.db'}"
        return
    base = os.environ.get("LLMGATE_TEST_DATABASE_URL")
    if not base:
        pytest.skip("LLMGATE_TEST_DATABASE_URL is not set")
    with postgres_schema(base) as url:
        yield url


@pytest.fixture(scope="module")
def recorded(store_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorded]:
    tmp = tmp_path_factory.mktemp("gateway")
    engine = create_engine_for(store_url)
    add_team(engine, "search")
    search_key, _ = add_key(engine, "search-bot", team_id="search", tags={"cost_centre": "cc-42"})
    billing_key, billing_id = add_key(engine, "billing-bot", rpm=1)
    engine.dispose()
    upstream = FakeUpstream().start()
    gateway = RunningGateway(upstream_config(upstream, database_url=store_url, time_zone=TZ), tmp).start()
    try:
        search, billing, master = (gateway.client(k) for k in (search_key, billing_key, MASTER_KEY))
        chat = "gpt-4o-mini"
        ids = {
            "zebras": _request_id(
                lambda: search.chat.completions.with_raw_response.create(
                    model=chat,
                    messages=[{"role": "user", "content": 'Tell me about "Zebras" please. ' + LONG_PROMPT}],
                    user="alice",
                    metadata={"tags": {"feature": "chat"}},  # type: ignore[dict-item]
                )
            ),
            "quokka": _request_id(
                lambda: search.chat.completions.with_raw_response.create(
                    model="mock-echo",
                    messages=[{"role": "user", "content": "What is a Quokka?\x1b[2J"}],
                    user="bob",
                )
            ),
            "billing": _request_id(
                lambda: billing.chat.completions.with_raw_response.create(
                    model=chat, messages=[{"role": "user", "content": "first billing call"}], user="alice"
                )
            ),
            "rate_limited": _request_id(
                lambda: billing.chat.completions.with_raw_response.create(
                    model=chat, messages=[{"role": "user", "content": "second billing call"}]
                )
            ),
            "unknown_model": _request_id(
                lambda: master.chat.completions.with_raw_response.create(
                    model="no-such-model", messages=[{"role": "user", "content": "anyone?"}]
                )
            ),
        }
        bad = httpx.post(  # a body the gateway refuses itself: messages must be a list
            gateway.url + "/v1/chat/completions",
            json={"model": chat, "messages": "just a string"},
            headers={"authorization": f"Bearer {MASTER_KEY}"},
            timeout=20,
        )
        assert bad.status_code == 400, bad.text
        ids["bad_body"] = bad.headers["x-llmgate-request-id"]
        upstream.fail_next(Fault(status=500), times=10)
        ids["upstream_500"] = _request_id(
            lambda: master.chat.completions.with_raw_response.create(
                model=chat, messages=[{"role": "user", "content": "will fail upstream"}]
            )
        )
        upstream.faults.clear()
        gateway.flush()
    finally:
        gateway.stop()
        upstream.stop()
    config = tmp / "logs.yaml"
    config.write_text(
        yaml.safe_dump({"model_list": [], "llmgate": {"database_url": store_url, "time_zone": TZ}})
    )
    yield Recorded(config, ids, billing_id)


def test_every_request_is_listed_and_statuses_are_as_sent(recorded: Recorded) -> None:
    assert found(recorded) == set(recorded.ids)
    rows = json.loads(logs(recorded.config, "--format", "json").stdout)
    codes = {row["id"]: row["status_code"] for row in rows}
    by_name = {name: codes[record_id] for name, record_id in recorded.ids.items()}
    assert by_name["rate_limited"] == 429 and by_name["unknown_model"] == 404 and by_name["bad_body"] == 400
    assert by_name["upstream_500"] >= 500 and by_name["billing"] == 200


def test_key_filter_takes_an_alias_or_an_id(recorded: Recorded) -> None:
    assert found(recorded, "--key", "search-bot") == {"zebras", "quokka"}
    assert found(recorded, "--key", recorded.billing_key_id) == {"billing", "rate_limited"}
    assert found(recorded, "--key", "billing-bot") == {"billing", "rate_limited"}
    assert found(recorded, "--key", "no-such-key") == set()


def test_team_user_and_tag_filters(recorded: Recorded) -> None:
    assert found(recorded, "--team", "search") == {"zebras", "quokka"}
    assert found(recorded, "--user", "alice") == {"zebras", "billing"}
    assert found(recorded, "--tag", "cost_centre=cc-42") == {"zebras", "quokka"}
    assert found(recorded, "--tag", "cost_centre:cc-42", "--tag", "feature=chat") == {"zebras"}
    assert found(recorded, "--tag", "feature") == {"zebras"}
    assert found(recorded, "--tag", "feature=search") == set()


def test_status_filter_takes_a_word_a_code_or_a_class(recorded: Recorded) -> None:
    failed = {"rate_limited", "unknown_model", "bad_body", "upstream_500"}
    assert found(recorded, "--status", "ok") == {"zebras", "quokka", "billing"}
    assert found(recorded, "--status", "success") == {"zebras", "quokka", "billing"}
    assert found(recorded, "--status", "error") == failed
    assert found(recorded, "--status", "429") == {"rate_limited"}
    assert found(recorded, "--status", "4xx") == {"rate_limited", "unknown_model", "bad_body"}
    assert found(recorded, "--status", "5xx") == {"upstream_500"}
    assert found(recorded, "--key", "billing-bot", "--status", "ok") == {"billing"}


def test_text_filter_any_case_in_prompt_or_response(recorded: Recorded) -> None:
    assert found(recorded, "--text", "zebras") == {"zebras"}
    assert found(recorded, "--text", 'about "ZEBRAS"') == {"zebras"}  # quotes are escaped in the stored JSON
    assert found(recorded, "--text", "upstream says") == {"zebras", "billing"}  # the fake upstream's answers
    assert found(recorded, "--text", "100%") == set()  # a literal %, not a wildcard
    assert found(recorded, "--text", "quokka", "--user", "alice") == set()


def test_error_rows_keep_the_model_asked_for(recorded: Recorded) -> None:
    rows = {
        row["id"]: row
        for row in json.loads(logs(recorded.config, "--format", "json", "--status", "error").stdout)
    }
    for name, model in (
        ("rate_limited", "gpt-4o-mini"),
        ("unknown_model", "no-such-model"),
        ("bad_body", "gpt-4o-mini"),
        ("upstream_500", "gpt-4o-mini"),
    ):
        assert rows[recorded.ids[name]]["model"] == model, name
    bad = rows[recorded.ids["bad_body"]]
    assert bad["request"]["messages"] == "just a string"  # what was refused is on record
    assert found(recorded, "--model", "gpt-4o-mini", "--status", "400") == {"bad_body"}


def test_one_record_whole(recorded: Recorded) -> None:
    record_id = recorded.ids["zebras"]
    row = json.loads(
        logs(recorded.config, "--format", "json", "--key", "search-bot", "--tag", "feature").stdout
    )[0]
    result = logs(recorded.config, record_id)
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert LONG_PROMPT.replace('"', '\\"') in text  # the prompt in full, not cut for a preview
    assert LONG_TAIL in text and "Upstream says:" in text
    assert f"search-bot ({row['key_id']})" in text and "alice" in text
    assert "cost_centre=cc-42" in text and "feature=chat" in text
    local = datetime.fromisoformat(row["created_at"]).astimezone(ZoneInfo(TZ))
    assert f"{local:%Y-%m-%d %H:%M:%S}" in text and TZ in text
    # the cost exactly as stored: the config's per-token prices times the recorded tokens
    cost = Decimal(row["prompt_tokens"]) * Decimal("0.0000015") + Decimal(row["completion_tokens"]) * Decimal(
        "0.000002"
    )
    assert f"{cost:.10f}" in text
    assert row["path"][0]["deployment"] in text and f"{row['latency_ms']:.3f}" in text

    short = logs(recorded.config, record_id[:12])  # the table's id column is the first 12 characters
    assert short.exit_code == 0 and short.stdout == text

    as_json = logs(recorded.config, record_id, "--format", "json")
    assert as_json.exit_code == 0, as_json.output
    whole = json.loads(as_json.stdout)
    assert whole["id"] == record_id and whole["request"]["messages"][0]["content"].endswith(LONG_TAIL)
    assert whole["user"] == "alice" and whole["tags"] == {"cost_centre": "cc-42", "feature": "chat"}
    assert Decimal(str(whole["cost_usd"])) == cost


def test_one_record_escapes_control_characters(recorded: Recorded) -> None:
    text = logs(recorded.config, recorded.ids["quokka"]).stdout
    assert "\x1b" not in text and "What is a Quokka?\\x1b[2J" in text


def test_unknown_id_is_one_line_and_exit_1(recorded: Recorded) -> None:
    for ref in ("f" * 32, "not-an-id"):
        result = logs(recorded.config, ref)
        assert result.exit_code == 1
        assert result.stderr.strip().startswith("error: no recorded request with id") and result.stdout == ""
        assert len(result.stderr.strip().splitlines()) == 1


def test_table_shows_times_in_the_time_zone(recorded: Recorded) -> None:
    result = logs(recorded.config, "--key", "billing-bot")
    assert result.exit_code == 0, result.output
    assert f"time ({TZ})" in result.stdout
    rows = json.loads(logs(recorded.config, "--format", "json", "--key", "billing-bot").stdout)
    zone = ZoneInfo(TZ)
    for row in rows:
        assert (
            f"{datetime.fromisoformat(row['created_at']).astimezone(zone):%Y-%m-%d %H:%M:%S}" in result.stdout
        )
    assert "429 rate_limit_exceeded" in result.stdout


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--status", "sideways"], "--status"),
        (["--tag", "=x"], "--tag"),
        (["--since", "2026-11-02", "--until", "2026-11-01"], "--until"),
        (["--until", "someday"], "--until"),
        (["--text", "x" * 201], "--text"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(recorded: Recorded, args: list[str], option: str) -> None:
    result = logs(recorded.config, *args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {option}")


# --- time ranges on rows placed around New York's midnight ---------------------------------------


def _row(record_id: str, created_at: datetime) -> dict[str, Any]:
    return {
        "id": record_id,
        "created_at": created_at,
        "endpoint": "chat/completions",
        "model": "gpt-4o-mini",
        "status": "success",
        "status_code": 200,
        "latency_ms": 5.0,
    }


@pytest.fixture
def timed(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = create_engine_for(url)
    upgrade(engine)
    ids = {
        "oct31_2359": "abc1" + uuid.uuid4().hex[4:],  # 23:59:59 on Oct 31 in New York (EDT)
        "nov1_0000": "abc2" + uuid.uuid4().hex[4:],  # midnight Nov 1 in New York
        "nov2_0000": uuid.uuid4().hex,  # midnight Nov 2 in New York (EST by then)
    }
    insert_records(
        engine,
        [
            _row(ids["oct31_2359"], datetime(2026, 11, 1, 3, 59, 59, tzinfo=UTC)),
            _row(ids["nov1_0000"], datetime(2026, 11, 1, 4, tzinfo=UTC)),
            _row(ids["nov2_0000"], datetime(2026, 11, 2, 5, tzinfo=UTC)),
        ],
    )
    engine.dispose()
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"model_list": [], "llmgate": {"database_url": url, "time_zone": TZ}}))
    return config, ids


def _listed(config: Path, ids: dict[str, str], *args: str) -> list[str]:
    result = logs(config, "--format", "json", *args)
    assert result.exit_code == 0, result.output
    names = {record_id: name for name, record_id in ids.items()}
    return [names[row["id"]] for row in json.loads(result.stdout)]


def test_bare_dates_are_midnight_in_the_time_zone(timed: tuple[Path, dict[str, str]]) -> None:
    config, ids = timed
    assert _listed(config, ids, "--until", "2026-11-01") == ["oct31_2359"]
    assert _listed(config, ids, "--since", "2026-11-01") == ["nov2_0000", "nov1_0000"]
    assert _listed(config, ids, "--since", "2026-11-01", "--until", "2026-11-02") == ["nov1_0000"]
    assert _listed(config, ids, "--until", "2026-11-01T04:00:00+00:00") == ["oct31_2359"]


def test_local_times_in_table_and_single_view(timed: tuple[Path, dict[str, str]]) -> None:
    config, ids = timed
    table = logs(config)
    assert table.exit_code == 0, table.output
    assert "2026-10-31 23:59:59" in table.stdout and "2026-11-01 00:00:00" in table.stdout
    assert "2026-11-01 03:59:59" not in table.stdout
    one = logs(config, ids["oct31_2359"])
    assert one.exit_code == 0 and "2026-10-31 23:59:59" in one.stdout and TZ in one.stdout


def test_an_ambiguous_id_prefix_is_one_line_and_exit_1(timed: tuple[Path, dict[str, str]]) -> None:
    config, ids = timed
    result = logs(config, "abc")
    assert result.exit_code == 1 and "matches several records" in result.stderr
    assert logs(config, ids["nov1_0000"][:8]).exit_code == 0


def test_a_store_that_is_not_there_is_read_as_empty_and_never_made(tmp_path: Path) -> None:
    """A mistyped ``database_url``: nothing created (it made the directory and an empty store,
    then said only that no request matched), a note naming the path, the empty answers."""
    config = tmp_path / "typo.yaml"
    missing = tmp_path / "no" / "such" / "store.db"
    config.write_text(yaml.safe_dump({"model_list": [], "llmgate": {"database_url": f"sqlite:///{missing}"}}))
    listed = logs(config)
    assert listed.exit_code == 0 and listed.stdout.strip() == "no recorded requests match"
    assert listed.stderr.startswith(f"note: no store at {missing.resolve()} ")
    sessions = CliRunner().invoke(app, ["sessions", "list", "--config", str(config), "--format", "json"])
    assert sessions.exit_code == 0 and json.loads(sessions.stdout) == []
    assert not (tmp_path / "no").exists()
    bad = logs(config, "--since", "yesterday-ish")
    assert bad.exit_code == 2 and "--since" in bad.stderr
