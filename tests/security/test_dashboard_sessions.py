"""Logging out of the dashboard ends the session on the server; so does revoking its key.

Before: the session cookie was only HMAC-signed, and logout only cleared it in the browser, so a
copy of the cookie (a shared machine, a proxy log, malware) kept working for its whole 12 hours.
Now a login starts a session in the store and the cookie carries its id; every dashboard request
checks it is still there; logout deletes it, and revoking, rotating or demoting the admin key
deletes that key's sessions in the same transaction. A replayed cookie is refused at once, on the
replica that logged out and on every other one.

Real HTTP against ``llmgate serve``: one replica on SQLite; two replicas sharing PostgreSQL.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from llmgate.server.ui_auth import COOKIE
from support.configs import MASTER_KEY
from support.postgres import postgres_schema
from support.served import ServedGateway

AUTH = {"Authorization": f"Bearer {MASTER_KEY}"}
CONFIG = {
    "model_list": [{"model_name": "mock-echo", "litellm_params": {"model": "mock/echo"}}],
    "general_settings": {"master_key": MASTER_KEY},
}
DATA = "/ui/api/session"
PAGE = "/ui/overview"


def login(base: str, key: str) -> str:
    """Log in; the session cookie's value, as an attacker would copy it."""
    response = httpx.post(base + "/ui/login", data={"key": key}, timeout=60)
    assert response.status_code == 303, response.text[:300]
    return response.cookies[COOKIE]


def replay(base: str, cookie: str, path: str = DATA) -> httpx.Response:
    return httpx.get(base + path, headers={"Cookie": f"{COOKIE}={cookie}"}, timeout=60)


def logout(base: str, cookie: str) -> None:
    response = httpx.post(base + "/ui/logout", headers={"Cookie": f"{COOKIE}={cookie}"}, timeout=60)
    assert response.status_code == 303 and response.headers["location"] == "/ui/login"
    assert "max-age=0" in response.headers["set-cookie"].lower()


def refused(base: str, cookie: str) -> None:
    """The very next use of the cookie is refused: no waiting for a poll or a cache."""
    data = replay(base, cookie)
    assert data.status_code == 401, data.text[:300]
    assert data.json()["error"]["code"] == "login_required"
    page = replay(base, cookie, PAGE)
    assert page.status_code == 303 and page.headers["location"].startswith("/ui/login")


def admin_key(base: str, alias: str) -> tuple[str, str]:
    made = httpx.post(base + "/admin/keys", json={"alias": alias, "admin": True}, headers=AUTH, timeout=60)
    assert made.status_code == 201, made.text
    return made.json()["key"], made.json()["id"]


@pytest.fixture(scope="module")
def one(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedGateway]:
    gateway = ServedGateway(dict(CONFIG), tmp_path_factory.mktemp("sessions")).start()
    try:
        yield gateway
    finally:
        gateway.stop()


def test_a_cookie_replayed_after_logout_is_refused(one: ServedGateway) -> None:
    cookie = login(one.url, MASTER_KEY)
    other = login(one.url, MASTER_KEY)  # another browser of the same admin
    assert replay(one.url, cookie).json() == {"subject": "master", "name": "master"}
    logout(one.url, cookie)
    refused(one.url, cookie)
    assert replay(one.url, other).status_code == 200  # only that session ended
    logout(one.url, other)
    refused(one.url, other)


def test_revoking_rotating_or_demoting_the_key_ends_its_sessions(one: ServedGateway) -> None:
    for change in ("revoke", "rotate", "demote"):
        key, key_id = admin_key(one.url, f"ops-{change}")
        cookie = login(one.url, key)
        assert replay(one.url, cookie).status_code == 200
        if change == "demote":
            done = httpx.patch(
                one.url + f"/admin/keys/{key_id}", json={"admin": False}, headers=AUTH, timeout=60
            )
        else:
            done = httpx.post(one.url + f"/admin/keys/{key_id}/{change}", headers=AUTH, timeout=60)
        assert done.status_code == 200, done.text
        refused(one.url, cookie)


def test_revoking_from_the_cli_ends_the_session_at_once(one: ServedGateway) -> None:
    key, key_id = admin_key(one.url, "ops-cli")
    cookie = login(one.url, key)
    assert replay(one.url, cookie).status_code == 200
    command = [sys.executable, "-m", "llmgate.cli.main", "keys", "revoke", key_id]
    result = subprocess.run(
        [*command, "--config", str(one.config_path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    refused(one.url, cookie)


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    base = os.environ.get("LLMGATE_TEST_DATABASE_URL")
    if not base:
        pytest.skip("LLMGATE_TEST_DATABASE_URL is not set")
    with postgres_schema(base) as url:
        replicas = []
        try:
            for n in range(2):
                config = {**CONFIG, "llmgate": {"database_url": url}}
                replicas.append(ServedGateway(config, tmp_path_factory.mktemp(f"replica{n}")).start())
            yield replicas[0].url, replicas[1].url
        finally:
            for replica in replicas:
                replica.stop()


@pytest.mark.postgres
def test_logout_on_one_replica_ends_the_session_on_the_other(two: tuple[str, str]) -> None:
    a, b = two
    cookie = login(a, MASTER_KEY)
    assert replay(b, cookie).status_code == 200  # the session is good everywhere
    logout(b, cookie)
    refused(a, cookie)
    refused(b, cookie)


@pytest.mark.postgres
def test_revoking_on_one_replica_ends_the_session_on_the_other(two: tuple[str, str]) -> None:
    a, b = two
    key, key_id = admin_key(a, "ops-replicas")
    cookie = login(a, key)
    assert replay(b, cookie).status_code == 200
    done = httpx.post(b + f"/admin/keys/{key_id}/revoke", headers=AUTH, timeout=60)
    assert done.status_code == 200, done.text
    refused(a, cookie)  # a's copy of the keys has not been refreshed yet; the session is gone
