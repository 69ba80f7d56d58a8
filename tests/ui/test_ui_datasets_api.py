"""The dashboard's "Add to dataset" data (``/ui/api/datasets``) over real HTTP with a login cookie:
the datasets listed for the input's suggestions, a request added (the dataset made, then a repeat
adding nothing), an unknown request 404; refused without a login (401), from another site (403)
and without a JSON body (400), in OpenAI's error shape; audited as ``ui:<subject>``. The request and
session pages load the button."""

from __future__ import annotations

from typing import Any

import httpx
import sqlalchemy as sa

from llmgate.store.models import requests_table, table
from support.dashboard import MASTER, Traffic, login_cookie


def request_id(traffic: Traffic, words: str) -> str:
    requests = requests_table()
    with traffic.engine.connect() as conn:  # the bodies are packed (store/bodies.py): read, then look
        rows = conn.execute(sa.select(requests.c.id, requests.c.request_json)).all()
    found = [record_id for record_id, body in rows if body and words in body]
    assert found
    return str(found[0])


def post(
    traffic: Traffic, name: str, body: Any, cookies: httpx.Cookies | None, **headers: str
) -> httpx.Response:
    return httpx.post(
        f"{traffic.url}/ui/api/datasets/{name}/items", json=body, cookies=cookies, headers=headers, timeout=30
    )


def test_add_a_request_from_the_dashboard(traffic: Traffic) -> None:
    cookies = login_cookie(traffic.url, MASTER)
    capital = request_id(traffic, "capital of France")
    made = post(traffic, "from-ui", {"request_id": capital}, cookies)
    assert made.status_code == 201, made.text
    assert made.json() == {"name": "from-ui", "items": 1, "added": 1, "present": 0, "created": True}
    again = post(traffic, "from-ui", {"request_id": capital}, cookies)
    assert again.status_code == 200 and (again.json()["added"], again.json()["present"]) == (0, 1)
    haiku = post(traffic, "from-ui", {"request_id": request_id(traffic, "haiku about")}, cookies)
    assert haiku.json()["items"] == 2

    listed = httpx.get(traffic.url + "/ui/api/datasets", cookies=cookies, timeout=30)
    assert listed.status_code == 200 and {"name": "from-ui", "items": 2} in listed.json()["datasets"]
    missing = post(traffic, "from-ui", {"request_id": "f" * 32}, cookies)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"

    log = table("audit_log")
    with traffic.engine.connect() as conn:
        actors = {r for (r,) in conn.execute(sa.select(log.c.actor).where(log.c.target == "from-ui"))}
    assert actors == {"ui:master"}


def test_refused_without_login_from_another_site_or_without_json(traffic: Traffic) -> None:
    capital = request_id(traffic, "capital of France")
    anonymous = post(traffic, "refused", {"request_id": capital}, None)
    assert anonymous.status_code == 401 and anonymous.json()["error"]["type"] == "authentication_error"
    assert httpx.get(traffic.url + "/ui/api/datasets", timeout=30).status_code == 401
    cookies = login_cookie(traffic.url, MASTER)
    elsewhere = post(traffic, "refused", {"request_id": capital}, cookies, origin="http://evil.example")
    assert elsewhere.status_code == 403 and elsewhere.json()["error"]["type"] == "permission_error"
    form = httpx.post(
        f"{traffic.url}/ui/api/datasets/refused/items",
        data={"request_id": capital},
        cookies=cookies,
        timeout=30,
    )
    assert form.status_code == 400 and form.json()["error"]["type"] == "invalid_request_error"
    both = post(traffic, "refused", {"request_id": capital, "session_id": "s"}, cookies)
    assert both.status_code == 400
    bad_name = post(traffic, "no%20spaces", {"request_id": capital}, cookies)
    assert bad_name.status_code == 400 and bad_name.json()["error"]["param"] == "name"
    listed = httpx.get(traffic.url + "/ui/api/datasets", cookies=cookies, timeout=30).json()["datasets"]
    assert "refused" not in [d["name"] for d in listed]


def test_the_pages_load_the_button(traffic: Traffic) -> None:
    cookies = login_cookie(traffic.url, MASTER)
    record = request_id(traffic, "capital of France")
    pages = (
        (f"/ui/requests/{record}", "request", "request_id: r.id"),
        ("/ui/sessions", "sessions", "session_id: data.session_id"),
    )
    for path, name, call in pages:
        html = httpx.get(traffic.url + path, cookies=cookies, timeout=30)
        assert html.status_code == 200
        assert '<script src="/ui/static/add_to_dataset.js"' in html.text and 'id="dataset-add"' in html.text
        script = httpx.get(f"{traffic.url}/ui/static/{name}.js", timeout=30).text
        assert "LG.addToDataset(" in script and call in script
    widget = httpx.get(f"{traffic.url}/ui/static/add_to_dataset.js", timeout=30)
    assert widget.status_code == 200 and "/ui/api/datasets/" in widget.text
