"""Screenshots of the dashboard for the README, from a real gateway in headless Chromium.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots]

Starts llmgate on a loopback port with a fresh SQLite store and mock deployments named like real
models, creates teams and keys, records a day of back-dated traffic through the store API (a
realistic mix: several models, teams and tags, a daily rhythm, an error burst), sends live
requests through the gateway with the openai SDK, then logs in with Debian's headless Chromium
at 1400x900 and saves ``overview.png`` and ``spend.png``.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import socket
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import uvicorn

from llmgate.auth.keys import display_prefix, generate_key, hash_key
from llmgate.config import parse_config
from llmgate.server.app import Settings, create_app
from llmgate.store.keys import create_key, create_team
from llmgate.store.migrate import upgrade
from llmgate.store.records import insert_records, list_records

MASTER = "sk-demo-master-key"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

#: model alias -> (USD per input token, per output token, median latency ms, share of traffic)
MODELS = {
    "gpt-4o": (Decimal("0.0000025"), Decimal("0.00001"), 900.0, 0.22),
    "gpt-4o-mini": (Decimal("0.00000015"), Decimal("0.0000006"), 420.0, 0.38),
    "claude-3-5-sonnet": (Decimal("0.000003"), Decimal("0.000015"), 1100.0, 0.18),
    "llama-3.1-70b": (Decimal("0.00000059"), Decimal("0.00000079"), 650.0, 0.14),
    "text-embedding-3-small": (Decimal("0.00000002"), Decimal(0), 60.0, 0.08),
}
TEAMS = {
    "search": ["search-api", "search-batch"],
    "support": ["support-bot"],
    "research": ["notebooks", "eval-runner"],
}
FEATURES = {"search": ["rerank", "answer"], "support": ["chat", "triage"], "research": ["summarize", "evals"]}
PROMPTS = [
    "Summarise this support ticket in two sentences.",
    "Which of these passages answers: how do I rotate an API key?",
    "Translate the release notes into German.",
    "Classify the sentiment of this review: 'Setup took five minutes.'",
    "Write a SQL query for the ten largest customers by spend.",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def config(database_url: str) -> dict[str, Any]:
    model_list = []
    for name, (inp, out, latency, _) in MODELS.items():
        params: dict[str, Any] = {
            "model": f"mock/{name}",
            "input_cost_per_token": str(inp),
            "output_cost_per_token": str(out),
            "mock_latency_ms": latency / 20,
        }
        entry: dict[str, Any] = {"model_name": name, "litellm_params": params}
        if name.startswith("text-embedding"):
            entry["model_info"] = {"mode": "embedding"}
        model_list.append(entry)
    return {
        "model_list": model_list,
        "general_settings": {"master_key": MASTER},
        "llmgate": {"database_url": database_url},
    }


def pick_model(rng: random.Random, team: str) -> str:
    """Research favours the large models; everyone else the small ones."""
    large = ("gpt-4o", "claude-3-5-sonnet")
    weights = [m[3] * (3 if team == "research" and name in large else 1) for name, m in MODELS.items()]
    return rng.choices(list(MODELS), weights=weights)[0]


def history(keys: dict[str, tuple[str, str]], now: datetime, rng: random.Random) -> list[dict[str, Any]]:
    """A day of records, busier in working hours, with an error burst three hours ago."""
    rows: list[dict[str, Any]] = []
    start = now - timedelta(hours=24)
    for minute in range(24 * 60):
        moment = start + timedelta(minutes=minute)
        hour = moment.hour + moment.minute / 60
        rate = 1.2 + 2.8 * max(0.0, math.sin((hour - 6) / 24 * 2 * math.pi))
        for _ in range(int(rng.expovariate(1 / rate))):
            team = rng.choices(list(TEAMS), weights=[0.5, 0.3, 0.2])[0]
            alias = rng.choice(TEAMS[team])
            key_id, _ = keys[alias]
            model = pick_model(rng, team)
            inp_price, out_price, median, _ = MODELS[model]
            embedding = model.startswith("text-embedding")
            burst = now - timedelta(hours=3, minutes=20) <= moment <= now - timedelta(hours=2, minutes=50)
            failed = rng.random() < (0.25 if burst and model == "claude-3-5-sonnet" else 0.015)
            prompt_tokens = int(rng.lognormvariate(math.log(600 if not embedding else 200), 0.6))
            completion_tokens = 0 if embedding or failed else int(rng.lognormvariate(math.log(180), 0.7))
            cost = Decimal(prompt_tokens) * inp_price + Decimal(completion_tokens) * out_price
            latency = rng.lognormvariate(math.log(median), 0.35) * (3 if burst and failed else 1)
            status_code = rng.choice([429, 502, 503]) if failed else 200
            created = moment + timedelta(seconds=rng.uniform(0, 59))
            prompt = rng.choice(PROMPTS)
            rows.append(
                {
                    "id": uuid.uuid4().hex,
                    "created_at": created,
                    "endpoint": "embeddings" if embedding else "chat/completions",
                    "model": model,
                    "deployment": f"{model}-1",
                    "provider": "mock",
                    "upstream_model": model,
                    "auth_identity": alias,
                    "stream": not embedding and rng.random() < 0.3,
                    "status": "error" if failed else "success",
                    "status_code": status_code,
                    "error_type": "upstream_error" if failed else None,
                    "error_message": f"upstream answered {status_code}" if failed else None,
                    "request_json": orjson.dumps(
                        {"model": model, "input": prompt}
                        if embedding
                        else {"model": model, "messages": [{"role": "user", "content": prompt}]}
                    ).decode(),
                    "response_text": None if failed or embedding else "(recorded answer)",
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                    "cost_usd": Decimal(0) if failed else cost,
                    "latency_ms": round(latency, 3),
                    "ttft_ms": round(latency * 0.35, 3) if not embedding else None,
                    "attempts": 1,
                    "attempts_json": orjson.dumps(
                        [
                            {
                                "deployment": f"{model}-1",
                                "provider": "mock",
                                "status": "error" if failed else "success",
                                "latency_ms": round(latency, 3),
                                "error_type": "upstream_error" if failed else None,
                                "status_code": status_code,
                            }
                        ]
                    ).decode(),
                    "tags_json": orjson.dumps({"feature": rng.choice(FEATURES[team])}).decode(),
                    "key_id": key_id,
                    "team_id": team,
                }
            )
    return rows


def live_traffic(base_url: str, keys: dict[str, tuple[str, str]], rng: random.Random) -> None:
    import openai

    for alias in ("search-api", "support-bot", "notebooks"):
        client = openai.OpenAI(base_url=base_url + "/v1", api_key=keys[alias][1], max_retries=0)
        for _ in range(4):
            model = rng.choice(["gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet", "llama-3.1-70b"])
            client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": rng.choice(PROMPTS)}]
            )
        client.close()


#: page name -> (path, canvases to wait for); "request" is the newest request's page
PAGES = {
    "overview": (
        "/ui/overview?since=24h",
        ["chart-requests", "chart-latency", "chart-tokens", "chart-spend"],
    ),
    "spend": ("/ui/spend?since=24h&group_by=team", ["chart-spend"]),
    "requests": ("/ui/requests?since=24h", []),
    "request": ("/ui/requests/{newest}?since=24h", []),
}


def shoot(base_url: str, out: Path, pages: list[str], newest: str) -> None:
    os.environ["SE_OFFLINE"] = "true"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument("--disable-background-networking")
    options.add_argument("--window-size=1400,900")
    options.add_argument("--hide-scrollbars")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.execute_cdp_cmd(  # the page itself 1400x900, whatever the window's frame takes
            "Emulation.setDeviceMetricsOverride",
            {"width": 1400, "height": 900, "deviceScaleFactor": 1, "mobile": False},
        )
        driver.get(base_url + "/ui/login")
        driver.find_element(By.ID, "key").send_keys(MASTER)
        driver.find_element(By.ID, "submit").click()
        for page in pages:
            path, charts = PAGES[page]
            driver.get(base_url + path.format(newest=newest))
            drawn = "function (id) { return !!Chart.getChart(id); }"
            ready = (
                "return !!document.querySelector('#content:not(.hidden)') && "
                f"{orjson.dumps(charts).decode()}.every({drawn});"
            )
            deadline = time.monotonic() + 20
            while not driver.execute_script(ready):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{path}: the page did not finish drawing")
                time.sleep(0.1)
            time.sleep(0.5)
            driver.save_screenshot(str(out / f"{page}.png"))
            print(f"saved {out / page}.png")
    finally:
        driver.quit()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="docs/screenshots", help="Where to save the PNG files.")
    parser.add_argument("--pages", default="overview,spend", help=f"Comma-separated, of: {', '.join(PAGES)}.")
    args = parser.parse_args()
    pages = [p.strip() for p in args.pages.split(",") if p.strip()]
    unknown = [p for p in pages if p not in PAGES]
    if unknown:
        parser.error(f"unknown page(s): {', '.join(unknown)}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        cfg = parse_config(config(f"sqlite:///{base / 'demo.db'}"), source="screenshots", base_dir=base)
        port = free_port()
        app = create_app(Settings(port=port), cfg)
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        base_url = f"http://127.0.0.1:{port}"
        try:
            engine = app.state.engine
            upgrade(engine)
            keys: dict[str, tuple[str, str]] = {}
            for team, aliases in TEAMS.items():
                create_team(engine, team, actor="screenshots")
                for alias in aliases:
                    secret = generate_key()
                    row = create_key(
                        engine,
                        key_hash=hash_key(secret),
                        key_prefix=display_prefix(secret),
                        actor="screenshots",
                        alias=alias,
                        team_id=team,
                    )
                    keys[alias] = (row.id, secret)
            insert_records(engine, history(keys, datetime.now(UTC), rng))
            live_traffic(base_url, keys, rng)
            time.sleep(1.5)  # the recorder writes in the background
            newest = list_records(engine, limit=1)[0]["id"]
            shoot(base_url, out, pages, newest)
        finally:
            server.should_exit = True
            thread.join(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
