"""One gateway with recorded traffic for every dashboard test, and a headless Chromium to look at it.

See ``support/dashboard.py`` for the gateway's config and the traffic sent through it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from llmgate.store.migrate import upgrade
from llmgate.store.records import count_records
from support.dashboard import (
    CHROMEDRIVER,
    CHROMIUM,
    Traffic,
    gateway_config,
    have_chromium,
    send_traffic,
    start_chrome,
)
from support.gateway import RunningGateway
from support.keys import add_key, add_team


@pytest.fixture(scope="session")
def traffic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Traffic]:
    base = tmp_path_factory.mktemp("ui")
    config = gateway_config(f"sqlite:///{base / 'store.db'}")
    config_path = base / "llmgate.yaml"
    config_path.write_text(yaml.safe_dump(config))
    gateway = RunningGateway(config, base).start()
    try:
        engine = gateway.state.engine
        upgrade(engine)
        add_team(engine, "search")
        team_key, team_key_id = add_key(engine, "search-bot", team_id="search", tags={"feature": "qa"})
        admin_key, admin_key_id = add_key(engine, "ops-admin", admin=True)
        plain_key, _ = add_key(engine, "plain")
        prompts = send_traffic(gateway, team_key)
        gateway.flush()
        yield Traffic(
            gateway=gateway,
            config_path=config_path,
            recorded=count_records(engine),
            team_key=team_key,
            team_key_id=team_key_id,
            admin_key=admin_key,
            admin_key_id=admin_key_id,
            plain_key=plain_key,
            prompts=prompts,
        )
    finally:
        gateway.stop()


@pytest.fixture(scope="session")
def browser_downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="session")
def chrome(browser_downloads: Path) -> Iterator[Any]:
    if not have_chromium():
        pytest.skip(f"browser tests need Debian's chromium and chromium-driver ({CHROMIUM}, {CHROMEDRIVER})")
    driver = start_chrome(browser_downloads)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def browser(chrome: Any, traffic: Traffic) -> Any:
    """The shared browser, logged out, its console log drained."""
    chrome.get(traffic.url + "/ui/login")
    chrome.delete_all_cookies()
    chrome.get_log("browser")
    return chrome
