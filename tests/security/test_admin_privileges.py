"""Only the master key creates admin keys or grants the admin role; no key is created already expired.

An admin key could create another admin key, or promote any key it made to admin: a leaked admin
key could mint admin keys that outlive its revocation. Now an admin key asking for ``admin: true``
(creating or changing a key) is refused with 403 ``master_key_only``; the master key still may.
A key created with an expiry in the past is refused: 400 naming ``expires_at`` in the admin API,
one line and exit code 2 from ``llmgate keys create --expires``. Against ``llmgate serve`` on
loopback (SQLite), the CLI as its own process on the same store.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from support.configs import MASTER_KEY
from support.served import ServedGateway

MASTER = {"Authorization": f"Bearer {MASTER_KEY}"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedGateway]:
    config = {
        "model_list": [{"model_name": "mock-echo", "litellm_params": {"model": "mock/echo"}}],
        "general_settings": {"master_key": MASTER_KEY},
    }
    gateway = ServedGateway(config, tmp_path_factory.mktemp("privileges")).start()
    try:
        yield gateway
    finally:
        gateway.stop()


def call(
    method: str, served: ServedGateway, path: str, key: str | None = None, **kwargs: Any
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else MASTER
    return httpx.request(method, served.url + path, headers=headers, timeout=30, **kwargs)


def made(response: httpx.Response, status: int = 201) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def refused(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    error: dict[str, Any] = body["error"]
    return error


def test_an_admin_key_cannot_make_or_promote_admins(served: ServedGateway) -> None:
    ops = made(call("POST", served, "/admin/keys", json={"alias": "ops", "admin": True}))
    assert ops["admin"] is True  # the master key may
    app = made(call("POST", served, "/admin/keys", ops["key"], json={"alias": "app"}))
    assert app["admin"] is False  # an admin key still makes plain keys

    for body in ({"alias": "shadow-admin", "admin": True}, {"alias": "shadow-admin-2", "admin": "true"}):
        error = refused(call("POST", served, "/admin/keys", ops["key"], json=body), 403)
        assert error["type"] == "permission_error" and error["code"] == "master_key_only"
        assert "master key" in error["message"]
    error = refused(call("PATCH", served, f"/admin/keys/{app['id']}", ops["key"], json={"admin": True}), 403)
    assert error["code"] == "master_key_only"

    keys = {k["alias"]: k for k in made(call("GET", served, "/admin/keys"), 200)["data"]}
    assert "shadow-admin" not in keys and "shadow-admin-2" not in keys
    assert keys["app"]["admin"] is False  # nothing half-done
    # the admin key may still change other fields, and take the role away (that grants nothing)
    assert (
        made(call("PATCH", served, f"/admin/keys/{app['id']}", ops["key"], json={"rpm": 5}), 200)["rpm"] == 5
    )
    promoted = made(call("PATCH", served, f"/admin/keys/{app['id']}", json={"admin": True}), 200)
    assert promoted["admin"] is True  # by the master key
    demoted = call("PATCH", served, f"/admin/keys/{app['id']}", ops["key"], json={"admin": False})
    assert made(demoted, 200)["admin"] is False


@pytest.mark.parametrize(
    "expires",
    [
        "2020-01-01",
        "2020-01-01T00:00:00Z",
        "2026-01-01T09:00:00+05:30",
        (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
    ],
)
def test_a_key_expiring_in_the_past_is_refused(served: ServedGateway, expires: str) -> None:
    alias = f"born-expired-{abs(hash(expires))}"
    error = refused(call("POST", served, "/admin/keys", json={"alias": alias, "expires": expires}), 400)
    assert error["type"] == "invalid_request_error" and error["param"] == "expires_at"
    assert "past" in error["message"]
    keys = made(call("GET", served, "/admin/keys"), 200)["data"]
    assert alias not in {k["alias"] for k in keys}


def test_a_future_expiry_is_accepted_and_updates_may_end_a_key(served: ServedGateway) -> None:
    later = (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%d")
    key = made(call("POST", served, "/admin/keys", json={"alias": "for-a-month", "expires": later}))
    assert key["status"] == "active"
    # changing an existing key's expiry to the past is a way to end it, and stays allowed
    ended = call("PATCH", served, f"/admin/keys/{key['id']}", json={"expires_at": "2020-01-01"})
    assert made(ended, 200)["status"] == "expired"


def cli(served: ServedGateway, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llmgate.cli.main", "keys", *args, "--config", str(served.config_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cli_refuses_an_expiry_in_the_past(served: ServedGateway) -> None:
    result = cli(served, "create", "--alias", "cli-born-expired", "--expires", "2020-01-01")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --expires: ") and "past" in lines[0], result.stderr
    assert "Traceback" not in result.stderr and "sk-lg-" not in result.stdout + result.stderr
    listed = made(call("GET", served, "/admin/keys"), 200)["data"]
    assert "cli-born-expired" not in {k["alias"] for k in listed}
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat(timespec="seconds")
    ok = cli(served, "create", "--alias", "cli-tomorrow", "--expires", later, "--format", "json")
    assert ok.returncode == 0, ok.stderr
