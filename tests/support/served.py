"""``llmgate serve`` as its own process, the way a user runs it: its URL, its store's rows, its RSS."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from support.gateway import free_port

LLMGATE = [sys.executable, "-m", "llmgate.cli.main"]


class ServedGateway:
    """A ``llmgate serve`` process on a free loopback port, its SQLite store and log in ``tmp_path``."""

    def __init__(self, config: dict[str, Any], tmp_path: Path) -> None:
        settings = config.setdefault("llmgate", {}) or {}
        config["llmgate"] = settings
        settings.setdefault("database_url", f"sqlite:///{tmp_path / 'llmgate.db'}")
        settings.setdefault("spill_dir", str(tmp_path / "spill"))
        self.database = Path(settings["database_url"].removeprefix("sqlite:///"))
        self.config_path = tmp_path / "config.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp_path / "serve.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, seconds: float = 30) -> ServedGateway:
        """Start ``llmgate serve`` and wait until ``/health`` answers."""
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                [*LLMGATE, "serve", "--config", str(self.config_path), "--port", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=os.environ.copy(),
            )
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.output()
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError("gateway never became healthy:\n" + self.output())

    def output(self) -> str:
        return self.log_path.read_text()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def rss_bytes(self) -> int:
        """The gateway process's resident set size, from /proc."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS in /proc status")

    def rows(self, request_ids: list[str], timeout: float = 20) -> dict[str, list[dict[str, Any]]]:
        """The stored rows of ``request_ids`` (``requests`` table), waiting until each has one."""
        deadline = time.monotonic() + timeout
        found: dict[str, list[dict[str, Any]]] = {}
        while time.monotonic() < deadline:
            found = {request_id: [] for request_id in request_ids}
            if self.database.exists():
                with contextlib.closing(sqlite3.connect(self.database, timeout=5)) as db:
                    db.row_factory = sqlite3.Row
                    marks = ",".join("?" * len(request_ids))
                    try:
                        rows = db.execute(
                            f"SELECT * FROM requests WHERE id IN ({marks})", request_ids
                        ).fetchall()
                    except sqlite3.OperationalError:  # the writer has not made the table yet
                        rows = []
                for row in rows:
                    found[row["id"]].append(dict(row))
            if all(found.values()):
                return found
            time.sleep(0.1)
        missing = [request_id for request_id, rows in found.items() if not rows]
        raise AssertionError(f"no stored row for {missing} after {timeout} s")

    def all_rows(self) -> list[dict[str, Any]]:
        """Every stored row of the ``requests`` table."""
        with contextlib.closing(sqlite3.connect(self.database, timeout=5)) as db:
            db.row_factory = sqlite3.Row
            return [dict(row) for row in db.execute("SELECT * FROM requests").fetchall()]

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
