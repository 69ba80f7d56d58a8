"""The dashboard tests' gateway and traffic, and how they start a headless Chromium.

The gateway has a master key, mock deployments with prices, a team with a key
that carries tags, an admin key and a plain key; the traffic goes through it with the official
``openai`` SDK: a few models, a stream, errors (an unknown model), and a prompt full of HTML.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from support.gateway import RunningGateway

MASTER = "sk-ui-master-0123456789"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
HOSTILE = "<img src=x onerror=\"document.title='pwned'\"> <script>window.pwned=1</script> Ünïcode"

PRICED = {"input_cost_per_token": "0.000002", "output_cost_per_token": "0.000006"}


def gateway_config(database_url: str) -> dict[str, Any]:
    return {
        "model_list": [
            {"model_name": "echo-small", "litellm_params": {"model": "mock/echo", **PRICED}},
            {
                "model_name": "chat-large",
                "litellm_params": {
                    "model": "mock/chat",
                    "mock_response": "Paris is the capital of France.",
                    "input_cost_per_token": "0.00001",
                    "output_cost_per_token": "0.00003",
                },
            },
        ],
        "general_settings": {"master_key": MASTER},
        # the dashboard tests try wrong keys on purpose, from one address, on one shared gateway
        "llmgate": {"database_url": database_url, "ui": {"max_login_failures_per_minute": 1000}},
    }


@dataclass
class Traffic:
    gateway: RunningGateway
    config_path: Path
    recorded: int
    team_key: str
    team_key_id: str
    admin_key: str
    admin_key_id: str
    plain_key: str
    prompts: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.gateway.url

    @property
    def engine(self) -> Any:
        return self.gateway.state.engine


def send_traffic(gateway: RunningGateway, team_key: str) -> dict[str, str]:
    """Requests through the gateway with the openai SDK; returns the prompts the tests look for."""
    prompts = {
        "capital": "What is the capital of France? Answer in one word.",
        "haiku": "Write a haiku about PostgreSQL vacuum.",
        "hostile": HOSTILE,
    }
    master = gateway.client(MASTER)
    team = gateway.client(team_key)
    for text in (prompts["capital"], prompts["haiku"], prompts["hostile"], "Say hello."):
        master.chat.completions.create(model="echo-small", messages=[{"role": "user", "content": text}])
    for n in range(3):
        team.chat.completions.create(
            model="chat-large",
            messages=[
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": f"Team question number {n}"},
            ],
            metadata={"tags": {"feature": "qa"}},
        )
    stream = team.chat.completions.create(
        model="chat-large", messages=[{"role": "user", "content": "Stream me an answer"}], stream=True
    )
    for _ in stream:
        pass
    for _ in range(2):
        with pytest.raises(openai.NotFoundError):
            master.chat.completions.create(
                model="gpt-does-not-exist", messages=[{"role": "user", "content": "Anyone there?"}]
            )
    return prompts


def start_chrome(downloads: Path) -> Any:
    """Headless Chromium (Debian's package) through its chromedriver; never downloads a browser."""
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager: never reach for the network
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--window-size=1400,900",
    ):
        options.add_argument(argument)
    options.add_experimental_option(
        "prefs",
        {
            "download.default_directory": str(downloads),
            "download.prompt_for_download": False,
            "safebrowsing.enabled": False,
        },
    )
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    return driver


def have_chromium() -> bool:
    return Path(CHROMIUM).exists() and shutil.which(CHROMEDRIVER) is not None


def login_cookie(url: str, key: str) -> httpx.Cookies:
    response = httpx.post(url + "/ui/login", data={"key": key}, timeout=30)
    assert response.status_code == 303, response.text
    return response.cookies


#: how long a browser test waits for the page to show something
WAIT_S = 15


def wait_for(condition: Callable[[], Any], what: str, timeout: float = WAIT_S) -> Any:
    """Poll ``condition`` until it returns something truthy (the page is still rendering)."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Exception as exc:  # the page is still rendering
            last = exc
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}" + (f" (last error: {last!r})" if last else ""))


def css(driver: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(driver.find_elements(By.CSS_SELECTOR, selector))
