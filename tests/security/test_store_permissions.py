"""Item 9: the SQLite store holds every prompt and answer, so only its owner may read it.

``llmgate serve`` on a database path whose directory does not exist yet: the directory is made
0700, the database and its ``-wal`` / ``-shm`` files 0600, whatever the process umask.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import yaml

from support.gateway import free_port, wait_healthy


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_serve_creates_a_private_database(tmp_path: Path) -> None:
    db = tmp_path / "data" / "llmgate.db"
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model_list": [{"model_name": "mock-echo", "litellm_params": {"model": "mock/echo"}}],
                "llmgate": {"database_url": f"sqlite:///{db}", "spill_dir": str(tmp_path / "spill")},
            }
        )
    )
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "llmgate.cli.main", "serve", "--config", str(config), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=lambda: os.umask(0o022),  # the common default, which would give 0644 files
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base)
        body = {"model": "mock-echo", "messages": [{"role": "user", "content": "a secret prompt"}]}
        assert httpx.post(base + "/v1/chat/completions", json=body, timeout=10).status_code == 200
        assert httpx.get(base + "/health/readiness", timeout=10).status_code == 200
        assert _mode(db.parent) == 0o700
        assert _mode(db) == 0o600
        # SQLite makes -wal / -shm with the database file's mode; a reader (as `llmgate logs` is) brings
        # them into being if the gateway's connections are closed at this moment.
        reader = sqlite3.connect(db)
        reader.execute("SELECT count(*) FROM sqlite_master").fetchone()
        for suffix in ("-wal", "-shm"):
            side = db.with_name(db.name + suffix)
            assert side.exists()
            assert _mode(side) == 0o600, f"{side.name} is {oct(_mode(side))}"
        reader.close()
    finally:
        process.terminate()
        process.wait(30)
