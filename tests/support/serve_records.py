"""``llmgate serve`` as its own process on a SQLite store, with its stored records read back.

The process is what a user runs (the writer process included); records are read straight from
the SQLite file, read-only, polling until the writer has stored what a test waits for.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx
import yaml

from support.gateway import free_port

#: records reach the store within a few flushes
FAST_RECORDER = {"flush_interval_s": 0.05, "batch_size": 64}


class ServedGateway:
    """``llmgate serve`` on ``<tmp>/config.yaml``, its store ``<tmp>/store.db``, its log ``<tmp>/serve.log``."""

    def __init__(self, config: dict[str, Any], tmp: Path, env: dict[str, str] | None = None) -> None:
        self.db = tmp / "store.db"
        llmgate = {"database_url": f"sqlite:///{self.db}", "spill_dir": str(tmp / "spill")}
        llmgate.update(config.get("llmgate", {}))
        llmgate.setdefault("recorder", FAST_RECORDER)
        self.config_path = tmp / "config.yaml"
        self.config_path.write_text(yaml.safe_dump({**config, "llmgate": llmgate}))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp / "serve.log"
        self._env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, seconds: float = 30) -> ServedGateway:
        command = [sys.executable, "-m", "llmgate.cli.main", "serve", "--config", str(self.config_path)]
        command += ["--port", str(self.port), "--log-level", "warning"]
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=self._env)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "llmgate serve exited:\n" + self.output()
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise AssertionError("llmgate serve never became healthy:\n" + self.output())

    def output(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def rows(self, ids: Iterable[str], seconds: float = 20) -> dict[str, list[dict[str, Any]]]:
        """The stored rows of each request id, once every id has one (or ``seconds`` have passed)."""
        wanted = set(ids)
        deadline = time.monotonic() + seconds
        while True:
            found = self._read(wanted)
            if all(found.get(i) for i in wanted) or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def _read(self, ids: set[str]) -> dict[str, list[dict[str, Any]]]:
        if not self.db.exists() or not ids:
            return {}
        try:
            with contextlib.closing(sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=5)) as db:
                db.row_factory = sqlite3.Row
                found: dict[str, list[dict[str, Any]]] = {}
                listed = sorted(ids)
                for start in range(0, len(listed), 500):
                    part = listed[start : start + 500]
                    marks = ",".join("?" * len(part))
                    for row in db.execute(f"SELECT * FROM requests WHERE id IN ({marks})", part):
                        found.setdefault(row["id"], []).append(dict(row))
                return found
        except sqlite3.OperationalError:  # not migrated yet, or busy: poll again
            return {}
