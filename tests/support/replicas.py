"""Several ``llmgate serve`` processes on one config, one PostgreSQL store and one Redis: a scale-out.

Each replica is a ``ServedGateway`` in a directory of its own (its log and its spill directory on
local disk, as each replica of a real deployment has); they start in parallel. ``kill(i)`` is a
``kill -9``; ``restart(i)`` starts the replica again on the same port and spill directory, so it
replays what it spilled. ``stored_ids`` reads the ``requests`` table's ids straight from PostgreSQL.
"""

from __future__ import annotations

import os
import signal
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from support.served import ServedGateway


class Replicas:
    def __init__(self, config: dict[str, Any], tmp_path: Path, count: int = 3) -> None:
        self.gateways: list[ServedGateway] = []
        for index in range(count):
            home = tmp_path / f"replica-{index}"
            home.mkdir(parents=True, exist_ok=True)
            settings = {**(config.get("llmgate") or {}), "spill_dir": str(home / "spill")}
            self.gateways.append(ServedGateway({**config, "llmgate": settings}, home))

    @property
    def addresses(self) -> list[tuple[str, int]]:
        return [("127.0.0.1", gateway.port) for gateway in self.gateways]

    @property
    def urls(self) -> list[str]:
        return [gateway.url for gateway in self.gateways]

    def start(self) -> Replicas:
        with ThreadPoolExecutor(len(self.gateways)) as pool:
            list(pool.map(lambda gateway: gateway.start(60), self.gateways))
        return self

    def kill(self, index: int) -> None:
        """``kill -9`` replica ``index`` (its writer process sees its pipe close and drains)."""
        process = self.gateways[index].process
        assert process is not None
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)

    def restart(self, index: int) -> None:
        self.gateways[index].start(60)

    def stop(self) -> None:
        with ThreadPoolExecutor(len(self.gateways)) as pool:
            list(pool.map(lambda gateway: gateway.stop(), self.gateways))


def libpq_url(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL (its ``options`` kept) as psycopg takes it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def stored_ids(url: str) -> Counter[str]:
    """How many rows of ``requests`` each stored id has."""
    with psycopg.connect(libpq_url(url)) as conn:
        return Counter(row[0] for row in conn.execute("SELECT id FROM requests"))


def stored_costs(url: str, key_id: str) -> list[tuple[int, Any]]:
    """(status code, cost) of each stored request made with the key ``key_id``."""
    with psycopg.connect(libpq_url(url)) as conn:
        rows = conn.execute("SELECT status_code, cost_usd FROM requests WHERE key_id = %s", (key_id,))
        return [(int(status), cost) for status, cost in rows]
