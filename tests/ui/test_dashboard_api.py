"""The dashboard's JSON and CSV over plain HTTP: the same numbers as the store, the reports and the CLI."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from typing import Any

import httpx
import orjson
import pytest

from llmgate.reports.spend import spend_report, to_csv, to_json
from llmgate.store.records import list_records
from llmgate.ui import static_dir
from support.dashboard import MASTER, Traffic

ADMIN = {"Authorization": f"Bearer {MASTER}"}


def api(traffic: Traffic, path: str, **params: Any) -> Any:
    response = httpx.get(traffic.url + path, params=params, headers=ADMIN, timeout=30)
    assert response.status_code == 200, response.text
    return response.json() if response.headers["content-type"].startswith("application/json") else response


def window() -> tuple[str, str, datetime, datetime]:
    since = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
    until = (datetime.now(UTC) + timedelta(minutes=5)).replace(microsecond=0)
    return since.isoformat(), until.isoformat(), since, until


def test_overview_counts_what_went_through(traffic: Traffic) -> None:
    data = api(traffic, "/ui/api/overview", since="1h")
    totals = data["totals"]
    rows = list_records(traffic.engine, limit=1000)
    assert totals["requests"] == len(rows) == traffic.recorded
    assert totals["errors"] == sum(r["status"] == "error" for r in rows) == 2
    assert totals["input_tokens"] == sum(r["prompt_tokens"] or 0 for r in rows)
    assert totals["output_tokens"] == sum(r["completion_tokens"] or 0 for r in rows)
    assert Decimal(totals["cost_usd"]) == sum((r["cost_usd"] or Decimal(0) for r in rows), Decimal(0))
    assert Decimal(totals["cost_usd"]) > 0
    assert data["bucket_seconds"] == 60 and len(data["buckets"]) in (60, 61)
    assert sum(b["requests"] for b in data["buckets"]) == traffic.recorded
    latencies = sorted(r["latency_ms"] for r in rows if r["status"] == "success")
    assert totals["p50_ms"] == latencies[(len(latencies) + 1) // 2 - 1]
    assert totals["p95_ms"] == latencies[(len(latencies) * 95 + 99) // 100 - 1]


@pytest.mark.parametrize("group_by", ["team", "key", "model", "tag:feature"])
def test_spend_is_the_report(traffic: Traffic, group_by: str) -> None:
    since_text, until_text, since, until = window()
    body = api(traffic, "/ui/api/spend", since=since_text, until=until_text, group_by=group_by)
    report = spend_report(traffic.engine, since=since, until=until, group_by=[group_by])
    assert body == orjson.loads(orjson.dumps(to_json(report)))
    assert body["totals"]["requests"] == traffic.recorded
    download = api(traffic, "/ui/api/spend.csv", since=since_text, until=until_text, group_by=group_by)
    assert download.text == to_csv(report)
    assert download.headers["content-type"].startswith("text/csv")
    disposition = download.headers["content-disposition"]
    assert re.fullmatch(r'attachment; filename="llmgate-spend-by-[a-z-]+-\d{8}T\d{4}\.csv"', disposition)


def test_spend_by_team_and_tag_values(traffic: Traffic) -> None:
    body = api(traffic, "/ui/api/spend", since="1h", group_by="team")
    teams = {row["team"]: row["requests"] for row in body["rows"]}
    assert teams == {"search": 4, None: traffic.recorded - 4}
    tags = api(traffic, "/ui/api/spend", since="1h", group_by="tag:feature")
    assert {row["tag:feature"]: row["requests"] for row in tags["rows"]}["qa"] == 4


def test_bad_parameters_are_400(traffic: Traffic) -> None:
    for path, params in (
        ("/ui/api/spend", {"group_by": "planet"}),
        ("/ui/api/spend", {"group_by": "team,model"}),
        ("/ui/api/overview", {"since": "soon"}),
        ("/ui/api/overview", {"since": "1h", "until": "2020-01-01"}),
        ("/ui/api/requests", {"status": "sideways"}),
        ("/ui/api/requests", {"cursor": "!!!"}),
        ("/ui/api/requests", {"q": "x" * 201}),
    ):
        response = httpx.get(traffic.url + path, params=params, headers=ADMIN)
        assert response.status_code == 400, (path, params, response.text)
        assert response.json()["error"]["type"] == "invalid_request_error"


def search(traffic: Traffic, **params: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = api(traffic, "/ui/api/requests", since="1h", **params)["rows"]
    return rows


def test_request_filters(traffic: Traffic) -> None:
    everything = search(traffic)
    assert len(everything) == traffic.recorded
    times = [r["created_at"] for r in everything]
    assert times == sorted(times, reverse=True)
    assert {r["model"] for r in search(traffic, model="chat-large")} == {"chat-large"}
    assert len(search(traffic, model="chat-large")) == 4
    assert {r["status"] for r in search(traffic, status="error")} == {"error"}
    assert len(search(traffic, status="404")) == 2
    assert len(search(traffic, status="ok")) == traffic.recorded - 2
    by_key = search(traffic, key=traffic.team_key_id)
    assert len(by_key) == 4 and {r["key_alias"] for r in by_key} == {"search-bot"}
    assert {r["team_id"] for r in by_key} == {"search"}
    # text: case-insensitive, in the prompt or the response; LIKE wildcards are literal
    assert [r["prompt_preview"] for r in search(traffic, q="POSTGRESQL VACUUM")] == [traffic.prompts["haiku"]]
    assert len(search(traffic, q="paris is the capital")) == 4  # chat-large's answer
    assert search(traffic, q="%") == [] and search(traffic, q="_") == []
    assert len(search(traffic, q='onerror="document')) == 1  # quotes are escaped in the stored JSON
    assert len(search(traffic, q="Ünïcode")) == 1  # (SQLite folds the case of ASCII letters only)
    assert search(traffic, q="Team question", model="echo-small") == []


def test_request_pages(traffic: Traffic) -> None:
    seen: list[str] = []
    cursor = None
    for _ in range(20):
        params: dict[str, Any] = {"since": "1h", "limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = api(traffic, "/ui/api/requests", **params)
        seen += [r["id"] for r in page["rows"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == traffic.recorded


def test_request_detail(traffic: Traffic) -> None:
    row = search(traffic, q="Team question number 1")[0]
    detail = api(traffic, f"/ui/api/requests/{row['id']}")
    assert detail["request"]["messages"][1] == {"role": "user", "content": "Team question number 1"}
    assert detail["response_text"] == "Paris is the capital of France."
    assert detail["key_alias"] == "search-bot" and detail["team_id"] == "search"
    assert detail["tags"] == {"feature": "qa"}
    assert [a["status"] for a in detail["attempts_detail"]] == ["success"]
    assert detail["attempts_detail"][0]["deployment"].startswith("chat-large")
    assert Decimal(detail["cost_usd"]) > 0 and detail["latency_ms"] > 0
    stream = search(traffic, q="Stream me an answer")[0]
    assert api(traffic, f"/ui/api/requests/{stream['id']}")["stream"] is True
    missing = httpx.get(traffic.url + "/ui/api/requests/0000", headers=ADMIN)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_filter_values(traffic: Traffic) -> None:
    values = api(traffic, "/ui/api/filters", since="1h")
    assert values["models"] == ["chat-large", "echo-small", "gpt-does-not-exist"]
    assert values["tags"] == ["feature"]
    assert {"alias": "search-bot", "id": traffic.team_key_id, "team": "search"} in values["keys"]
    assert "search" in values["teams"]


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value is not None:
                self.refs.append(value)


def test_everything_is_served_by_llmgate(traffic: Traffic) -> None:
    """No CDN: every script, style, font and link in every page is a path on this server."""
    pages = sorted(static_dir().glob("*.html"))
    assert {p.stem for p in pages} >= {"overview", "spend", "requests", "request", "login"}
    for page in pages:
        parser = _Refs()
        parser.feed(page.read_text())
        assert parser.refs, page.name
        for ref in parser.refs:
            assert ref.startswith("/ui/") and not ref.startswith("//"), (page.name, ref)
            if ref.startswith("/ui/static/"):
                asset = httpx.get(traffic.url + ref)
                assert asset.status_code == 200, ref
    for script in static_dir().rglob("*.js"):
        text = script.read_text()
        assert "http://" not in text.replace("http://www.w3.org", "") or script.parent.name == "vendor"
        assert not re.search(r"""(src|href)\s*=\s*["']https?:""", text), script.name
    assert "@import" not in (static_dir() / "app.css").read_text()
    assert "url(" not in (static_dir() / "app.css").read_text()


def test_assets_stay_inside_the_static_directory(traffic: Traffic) -> None:
    for path in ("../__init__.py", "..%2F__init__.py", "%2e%2e/%2e%2e/server/app.py", "overview.html"):
        response = httpx.get(traffic.url + "/ui/static/" + path)
        assert response.status_code in (303, 404), path  # 303: the client resolved the dots itself
        assert "def " not in response.text and "<script" not in response.text
    css = httpx.get(traffic.url + "/ui/static/app.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
