"""Run a real gateway (uvicorn, real sockets) on a loopback port inside the test process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import yaml

from llmgate.config import parse_config
from llmgate.server.app import LlmgateApp, Overrides, Settings, create_app
from llmgate.server.edge import edge_protocol


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RunningGateway:
    def __init__(self, config: dict[str, Any], base_dir: Path, overrides: Overrides | None = None) -> None:
        self.config = parse_config(config, source="test config", base_dir=base_dir)
        self.port = free_port()
        self.app: LlmgateApp = create_app(Settings(port=self.port), self.config, overrides=overrides)
        self._server = uvicorn.Server(
            uvicorn.Config(
                self.app,
                host="127.0.0.1",
                port=self.port,
                lifespan="on",
                log_level="warning",
                access_log=False,
                http=edge_protocol(self.config.llmgate.http),  # as `llmgate serve` runs it
            )
        )
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._clients: dict[str, Any] = {}

    def client(self, api_key: str) -> Any:
        """An ``openai.OpenAI`` client for this gateway, closed when the gateway stops."""
        import openai

        if api_key not in self._clients:
            self._clients[api_key] = openai.OpenAI(
                base_url=self.url + "/v1", api_key=api_key, max_retries=0, timeout=20
            )
        return self._clients[api_key]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def state(self) -> Any:
        return self.app.state

    def start(self) -> RunningGateway:
        self._thread.start()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self._server.started:
                return self
            time.sleep(0.02)
        raise RuntimeError("gateway did not start")

    def flush(self) -> None:
        """Wait until every record submitted so far is written or spilled."""
        asyncio.run_coroutine_threadsafe(self.state.recorder.flush(), self.state.loop).result(30)

    def stop(self) -> None:
        for client in self._clients.values():
            client.close()
        self._server.should_exit = True
        self._thread.join(30)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.get(self.url + path, timeout=30, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.post(self.url + path, timeout=30, **kwargs)


def start_serve(config_path: Path, env: dict[str, str] | None = None) -> tuple[Any, str]:
    """``llmgate serve`` as its own process on a free port: (the process, its base URL)."""
    import subprocess
    import sys

    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llmgate.cli.main",
            "serve",
            "--config",
            str(config_path),
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    return process, f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def serve_replicas(config: dict[str, Any], tmp_path: Path, count: int = 2) -> Iterator[list[str]]:
    """``count`` ``llmgate serve`` processes on one config (written to ``tmp_path``), each healthy:
    their base URLs. Terminated on exit."""
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    processes, bases = [], []
    try:
        for _ in range(count):
            process, base = start_serve(path, os.environ.copy())
            processes.append(process)
            bases.append(base)
        for base in bases:
            wait_healthy(base)
        yield bases
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(30)


def wait_healthy(base: str, attempts: int = 400) -> None:
    """Poll ``/health`` until it answers 200 (or the attempts run out)."""
    for _ in range(attempts):
        try:
            if httpx.get(base + "/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
