"""The dashboard's request log and spend page know the endpoint (the path after ``/v1/``).

Over plain HTTP against the shared dashboard gateway (``traffic``: chat completions only): each
row carries its endpoint, ``endpoint=`` filters by it (an unknown name is a 400 in OpenAI's
shape), ``/ui/api/filters`` lists the endpoints for the menu, and spend groups by endpoint.
"""

from __future__ import annotations

from typing import Any

import httpx

from llmgate.protocol.endpoints import Endpoint
from support.dashboard import MASTER, Traffic

ADMIN = {"Authorization": f"Bearer {MASTER}"}


def get(traffic: Traffic, path: str, **params: Any) -> httpx.Response:
    return httpx.get(traffic.url + path, params=params, headers=ADMIN, timeout=30)


def test_requests_filtered_by_endpoint(traffic: Traffic) -> None:
    everything = get(traffic, "/ui/api/requests", since="1h", limit=200).json()["rows"]
    assert everything and {row["endpoint"] for row in everything} == {"chat/completions"}
    chat = get(traffic, "/ui/api/requests", since="1h", limit=200, endpoint="chat/completions").json()
    assert [row["id"] for row in chat["rows"]] == [row["id"] for row in everything]
    assert get(traffic, "/ui/api/requests", since="1h", endpoint="embeddings").json()["rows"] == []
    refused = get(traffic, "/ui/api/requests", since="1h", endpoint="chat")
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["type"] == "invalid_request_error" and "responses" in error["message"]


def test_filters_list_the_endpoints_and_spend_groups_by_them(traffic: Traffic) -> None:
    values = get(traffic, "/ui/api/filters", since="1h").json()
    assert values["endpoints"] == [endpoint.value for endpoint in Endpoint]
    spend = get(traffic, "/ui/api/spend", since="1h", group_by="endpoint")
    assert spend.status_code == 200, spend.text
    rows = spend.json()["rows"]
    assert [row["endpoint"] for row in rows] == ["chat/completions"]
    assert rows[0]["requests"] == traffic.recorded
