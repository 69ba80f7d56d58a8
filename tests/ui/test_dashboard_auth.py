"""Who may see the dashboard, over plain HTTP: login, session cookies and their rules, bearer keys."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from llmgate.server.ui_auth import COOKIE, read_session, session_secret, sign_session
from support.dashboard import MASTER, Traffic, gateway_config, login_cookie
from support.gateway import RunningGateway
from support.keys import add_key, change_key

API = "/ui/api/overview"


def get(url: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.get(url + path, timeout=30, **kwargs)


def with_cookie(value: str) -> httpx.Cookies:
    cookies = httpx.Cookies()
    cookies.set(COOKIE, value, domain="127.0.0.1", path="/ui")
    return cookies


def test_nothing_without_login(traffic: Traffic) -> None:
    for path in ("/ui/overview", "/ui/spend", "/ui/requests", "/ui/requests/abc", "/ui/monitors"):
        page = get(traffic.url, path)
        assert page.status_code == 303, path
        assert page.headers["location"].startswith("/ui/login?next=")
    for path in (API, "/ui/api/spend", "/ui/api/spend.csv", "/ui/api/requests", "/ui/api/filters"):
        response = get(traffic.url, path)
        assert response.status_code == 401, path
        assert response.json()["error"]["type"] == "authentication_error"
        assert traffic.prompts["capital"] not in response.text
    # the root goes to the overview, which asks for a login
    assert get(traffic.url, "/ui").headers["location"] == "/ui/overview"


def test_login_sets_a_signed_session_cookie(traffic: Traffic) -> None:
    response = httpx.post(traffic.url + "/ui/login", data={"key": MASTER, "next": "/ui/spend?since=7d"})
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/spend?since=7d"
    header = response.headers["set-cookie"]
    assert header.startswith(COOKIE + "=")
    flags = {part.strip().lower() for part in header.split(";")[1:]}
    assert {"httponly", "path=/ui", "samesite=strict"} <= flags
    value = response.cookies[COOKIE]
    assert MASTER not in value and MASTER not in header
    session = read_session(session_secret(MASTER), value)
    assert session is not None and session.subject == "master"
    assert 11.9 * 3600 < session.expires_at - time.time() <= 12 * 3600
    assert get(traffic.url, API, cookies=response.cookies).status_code == 200
    assert get(traffic.url, "/ui/overview", cookies=response.cookies).status_code == 200


def test_next_never_leaves_the_dashboard(traffic: Traffic) -> None:
    for target in ("https://evil.example/", "//evil.example/ui/", "/admin/keys", "/ui\\..\\x"):
        response = httpx.post(traffic.url + "/ui/login", data={"key": MASTER, "next": target})
        assert response.headers["location"] == "/ui/overview", target


def test_forms_from_other_sites_are_refused(traffic: Traffic) -> None:
    for origin in ("http://evil.example", "null"):
        login = httpx.post(traffic.url + "/ui/login", data={"key": MASTER}, headers={"Origin": origin})
        assert login.status_code == 403 and "set-cookie" not in login.headers
        cookies = login_cookie(traffic.url, MASTER)
        logout = httpx.post(traffic.url + "/ui/logout", cookies=cookies, headers={"Origin": origin})
        assert logout.status_code == 403
    same = httpx.post(traffic.url + "/ui/login", data={"key": MASTER}, headers={"Origin": traffic.url})
    assert same.status_code == 303


def test_wrong_or_plain_keys_are_refused(traffic: Traffic) -> None:
    for key in ("sk-wrong", "", traffic.plain_key, traffic.team_key, MASTER + "x"):
        response = httpx.post(traffic.url + "/ui/login", data={"key": key})
        assert response.status_code == 401, key
        assert "does not open the dashboard" in response.text
        assert COOKIE not in response.headers.get("set-cookie", "")
        assert response.headers["content-type"].startswith("text/html")


def test_tampered_forged_and_expired_cookies_are_refused(traffic: Traffic) -> None:
    good = login_cookie(traffic.url, MASTER)[COOKIE]
    payload, signature = good.split(".")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    forged = sign_session(session_secret("some-other-master-key"), "master")
    expired = sign_session(session_secret(MASTER), "master", now=time.time() - 13 * 3600)
    # a payload for another subject with the original signature
    other = sign_session(session_secret(MASTER), "key_nope").split(".")[0] + "." + signature
    for value in (flipped, forged, expired, other, "garbage", payload, good + "x"):
        assert get(traffic.url, API, cookies=with_cookie(value)).status_code == 401, value
        assert get(traffic.url, "/ui/overview", cookies=with_cookie(value)).status_code == 303
    assert get(traffic.url, API, cookies=with_cookie(good)).status_code == 200


def test_bearer_keys_on_the_api(traffic: Traffic) -> None:
    master = get(traffic.url, API, headers={"Authorization": f"Bearer {MASTER}"})
    assert master.status_code == 200
    admin = get(traffic.url, API, headers={"Authorization": f"Bearer {traffic.admin_key}"})
    assert admin.status_code == 200
    for key in (traffic.plain_key, "sk-wrong"):
        response = get(traffic.url, API, headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 401
        assert response.json()["error"]["type"] == "authentication_error"
    session = get(traffic.url, "/ui/api/session", headers={"Authorization": f"Bearer {traffic.admin_key}"})
    assert session.json() == {"subject": traffic.admin_key_id, "name": "ops-admin"}


def test_logout_clears_the_cookie(traffic: Traffic) -> None:
    cookies = login_cookie(traffic.url, MASTER)
    response = httpx.post(traffic.url + "/ui/logout", cookies=cookies)
    assert response.status_code == 303 and response.headers["location"] == "/ui/login"
    header = response.headers["set-cookie"]
    assert header.startswith(f'{COOKIE}=""') or header.startswith(f"{COOKIE}=;")
    assert "max-age=0" in header.lower()


def login_when_known(url: str, key: str) -> httpx.Cookies:
    """Log in with a key just added to the store, once the gateway's registry has seen it."""
    deadline = time.monotonic() + 10
    while True:
        response = httpx.post(url + "/ui/login", data={"key": key}, timeout=30)
        if response.status_code == 303 or time.monotonic() > deadline:
            assert response.status_code == 303, response.text
            return response.cookies
        time.sleep(0.1)


def test_a_revoked_admin_key_loses_its_session(traffic: Traffic) -> None:
    key, key_id = add_key(traffic.engine, "short-lived-admin", admin=True)
    cookies = login_when_known(traffic.url, key)
    assert get(traffic.url, API, cookies=cookies).status_code == 200
    change_key(traffic.engine, key_id, revoked_at=datetime.now(UTC))
    deadline = time.monotonic() + 10  # the registry notices within its poll interval
    while get(traffic.url, API, cookies=cookies).status_code != 401:
        assert time.monotonic() < deadline, "the revoked key's session still works"
        time.sleep(0.1)
    assert get(traffic.url, "/ui/overview", cookies=cookies).status_code == 303
    # and a key that lost its admin role, likewise
    key2, key2_id = add_key(traffic.engine, "demoted-admin", admin=True)
    cookies2 = login_when_known(traffic.url, key2)
    assert get(traffic.url, API, cookies=cookies2).status_code == 200
    change_key(traffic.engine, key2_id, admin=False)
    deadline = time.monotonic() + 10
    while get(traffic.url, API, cookies=cookies2).status_code != 401:
        assert time.monotonic() < deadline, "the demoted key's session still works"
        time.sleep(0.1)


def test_security_headers_on_pages(traffic: Traffic) -> None:
    cookies = login_cookie(traffic.url, MASTER)
    page = get(traffic.url, "/ui/overview", cookies=cookies)
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    assert get(traffic.url, API, cookies=cookies).headers["cache-control"] == "no-store"


@pytest.fixture
def open_gateway(tmp_path: Any, gateway_factory: Callable[..., RunningGateway]) -> RunningGateway:
    config = gateway_config(f"sqlite:///{tmp_path / 'open.db'}")
    del config["general_settings"]
    return gateway_factory(config)


def test_without_a_master_key_the_dashboard_is_off(open_gateway: RunningGateway) -> None:
    login = open_gateway.get("/ui/login")
    assert login.status_code == 403
    assert "general_settings.master_key" in login.text
    assert 'id="login"' in login.text and 'class="hidden" id="login"' in login.text
    assert open_gateway.post("/ui/login", data={"key": "anything"}).status_code == 403
    api = open_gateway.get(API)
    assert api.status_code == 403
    assert "general_settings.master_key" in api.json()["error"]["message"]
    assert open_gateway.get("/ui/overview").status_code == 303
