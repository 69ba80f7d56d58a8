"""Dashboard login: failures are throttled per client address and per key prefix; short master keys
are refused at start.

Before: ``POST /ui/login`` answered every guess at full speed, and any master key, however short,
was accepted. Now, past ``llmgate.ui.max_login_failures_per_minute`` (default 5) failures in a
sliding minute from one address, or with one key prefix (the first 8 characters, so that many
addresses guessing one key are counted together), a login is answered 429 with ``Retry-After``,
even with the right key, until the window frees. A master key under 16 characters stops
``llmgate serve`` with one line naming ``general_settings.master_key`` (after ``os.environ/NAME``
is resolved), never showing the key.

Against ``llmgate serve`` on loopback; clients on several loopback addresses (127.0.0.x).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from llmgate.config import parse_config
from llmgate.errors import ConfigError
from llmgate.server.ui_throttle import LoginThrottle, address_bucket, prefix_bucket
from support.configs import MASTER_KEY
from support.gateway import free_port
from support.served import ServedGateway

LIMIT = 5  # the default of llmgate.ui.max_login_failures_per_minute


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServedGateway, str]]:
    config = {
        "model_list": [{"model_name": "mock-echo", "litellm_params": {"model": "mock/echo"}}],
        "general_settings": {"master_key": MASTER_KEY},
    }
    gateway = ServedGateway(config, tmp_path_factory.mktemp("login")).start()
    try:
        made = httpx.post(
            gateway.url + "/admin/keys",
            json={"alias": "ops", "admin": True},
            headers={"Authorization": f"Bearer {MASTER_KEY}"},
            timeout=60,
        )
        assert made.status_code == 201, made.text
        yield gateway, made.json()["key"]
    finally:
        gateway.stop()


def login(served: ServedGateway, key: str, address: str) -> httpx.Response:
    """``POST /ui/login`` from the loopback ``address``."""
    transport = httpx.HTTPTransport(local_address=address)
    with httpx.Client(transport=transport, timeout=60) as client:
        return client.post(served.url + "/ui/login", data={"key": key})


def throttled(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text[:300]
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert "Too many failed logins" in response.text
    assert "set-cookie" not in response.headers


def test_failures_from_one_address_lock_it_out(served: tuple[ServedGateway, str]) -> None:
    gateway, admin_key = served
    for n in range(LIMIT):  # each guess with a prefix of its own: only the address adds up
        assert login(gateway, f"guess{n:03d}-0123456789abcdef", "127.0.0.2").status_code == 401
    throttled(login(gateway, MASTER_KEY, "127.0.0.2"))  # even the right key, from there
    throttled(login(gateway, "guess999-0123456789abcdef", "127.0.0.2"))
    assert login(gateway, admin_key, "127.0.0.3").status_code == 303  # another address is not affected


def test_failures_with_one_key_prefix_lock_it_out_from_everywhere(served: tuple[ServedGateway, str]) -> None:
    gateway, admin_key = served
    prefix = MASTER_KEY[:8]
    for n in range(LIMIT):  # a distributed guess at the master key: each address fails once
        response = login(gateway, f"{prefix}guess-{n:04d}-xxxxxxxx", f"127.0.0.{10 + n}")
        assert response.status_code == 401
    throttled(login(gateway, MASTER_KEY, "127.0.0.20"))  # a fresh address, the guessed prefix
    assert login(gateway, admin_key, "127.0.0.20").status_code == 303  # a key with another prefix


def test_the_window_slides() -> None:
    """A minute after the oldest failure one more try is allowed; a refused try is not counted."""
    now = [1000.0]
    throttle = LoginThrottle(3, clock=lambda: now[0])
    buckets = [address_bucket("192.0.2.7"), "key:sk-test-"]
    for step in range(3):
        assert throttle.retry_after(buckets) is None
        throttle.failed(buckets)
        now[0] += 10 * (step + 1)  # failures at 1000, 1010, 1030
    now[0] = 1050.0
    assert throttle.retry_after(buckets) == 10  # the 1000 failure frees the window at 1060
    assert throttle.retry_after(["key:sk-test-"]) == 10 and throttle.retry_after(["key:other"]) is None
    now[0] = 1060.0
    assert throttle.retry_after(buckets) is None
    throttle.failed(buckets)
    assert throttle.retry_after(buckets) == 10  # 1010 + 60 - 1060


def test_buckets() -> None:
    assert address_bucket("2001:db8:1:2:3:4:5:6") == address_bucket("2001:db8:1:2:ffff::1")  # one /64
    assert address_bucket("2001:db8:1:2::1") != address_bucket("2001:db8:1:3::1")
    assert address_bucket("::ffff:192.0.2.7") == address_bucket("192.0.2.7")
    assert prefix_bucket("") is None and prefix_bucket("sk-lg-abcdefgh") == "key:sk-lg-ab"
    throttle = LoginThrottle(1, max_buckets=100)
    for n in range(1000):  # random prefixes cost a bounded amount of memory
        throttle.failed([f"key:{n:08d}"])
    assert len(throttle._failures) == 100


def serve(tmp_path: Path, config: dict[str, Any], env: dict[str, str] | None = None) -> tuple[int, str]:
    """``llmgate serve`` with ``config``: its exit code and stderr (it must stop on its own)."""
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    command = [sys.executable, "-m", "llmgate.cli.main", "serve", "--config", str(path)]
    process = subprocess.Popen(
        [*command, "--port", str(free_port())],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    try:
        _, stderr = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail("llmgate serve started with a short master key")
    return process.returncode, stderr


@pytest.mark.parametrize("how", ["literal", "environment"])
def test_a_short_master_key_stops_the_start(tmp_path: Path, how: str) -> None:
    short = "sk-short-1234"  # 13 characters
    value = short if how == "literal" else "os.environ/LLMGATE_TEST_SHORT_MASTER"
    config = {
        "model_list": [{"model_name": "mock-echo", "litellm_params": {"model": "mock/echo"}}],
        "general_settings": {"master_key": value},
        "llmgate": {"database_url": f"sqlite:///{tmp_path / 'store.db'}"},
    }
    code, stderr = serve(tmp_path, config, {"LLMGATE_TEST_SHORT_MASTER": short})
    assert code == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "general_settings.master_key" in lines[0] and "16 characters" in lines[0]
    assert short not in stderr


def test_sixteen_characters_are_enough() -> None:
    assert parse_config({"general_settings": {"master_key": "x" * 16}}).general_settings.master_key
    with pytest.raises(ConfigError, match=r"general_settings\.master_key"):
        parse_config({"general_settings": {"master_key": "x" * 15}})
