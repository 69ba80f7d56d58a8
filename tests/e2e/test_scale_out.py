"""Three ``llmgate serve`` replicas on one PostgreSQL and one Redis, behind a round-robin TCP
balancer, driven by the openai SDK: limits, budgets, cooldowns and the cache hold across them,
every call is stored once, and a replica killed with ``kill -9`` mid-load loses no record.

The client opens a new connection per call (no keep-alive), so the balancer spreads calls over
the replicas. Every response the client gets (success or error) carries a request id; the module
keeps them all (``Cluster.ids``) and the last test checks the ``requests`` table holds exactly those.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import openai
import pytest

from llmgate.store.db import create_engine_for
from support.balancer import RoundRobinBalancer
from support.configs import MASTER_KEY, upstream_config
from support.keys import add_key
from support.postgres import postgres_schema
from support.replicas import Replicas, stored_costs, stored_ids
from support.upstream import FakeUpstream, Fault

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

MODEL = "gpt-4o-mini"


class Cluster:
    def __init__(self, url: str, replicas: Replicas, balancer: RoundRobinBalancer, bad: FakeUpstream) -> None:
        self.url = url
        self.replicas = replicas
        self.balancer = balancer
        self.bad = bad
        self.ids: list[str] = []  # every request id a response carried
        self.cut_off = 0  # calls that got no response: in flight on a replica when it was killed
        self._lock = threading.Lock()
        self._count = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.balancer.port}"

    def client(self, key: str = MASTER_KEY, base: str | None = None) -> openai.OpenAI:
        """An SDK client that opens a connection per call (so each call is balanced anew)."""
        http = httpx.Client(limits=httpx.Limits(max_keepalive_connections=0), timeout=20)
        return openai.OpenAI(
            base_url=(base or self.base) + "/v1", api_key=key, max_retries=0, http_client=http
        )

    def prompt(self) -> list[dict[str, str]]:
        """A user message no other call sent (so the response cache misses), of a fixed length."""
        with self._lock:
            self._count += 1
            number = self._count
        return [{"role": "user", "content": f"What is the capital of France? (question {number:06d})"}]

    def call(self, client: openai.OpenAI, **kwargs: Any) -> tuple[int, Any, httpx.Headers]:
        """One chat completion: (status, the parsed answer or the error, headers); its id is kept."""
        kwargs.setdefault("model", MODEL)
        kwargs.setdefault("messages", self.prompt())
        try:
            raw = client.chat.completions.with_raw_response.create(**kwargs)
            status, answer, headers = raw.http_response.status_code, raw.parse(), raw.headers
        except openai.APIStatusError as error:
            status, answer, headers = error.status_code, error, error.response.headers
        with self._lock:
            self.ids.append(headers["x-llmgate-request-id"])
        return status, answer, headers

    def key(self, alias: str, **fields: Any) -> tuple[str, str]:
        engine = create_engine_for(self.url)
        try:
            return add_key(engine, alias, **fields)
        finally:
            engine.dispose()

    def wait_stored(self, ids: list[str], timeout: float = 30) -> dict[str, int]:
        deadline = time.monotonic() + timeout
        while True:
            counts = stored_ids(self.url)
            if all(counts[request_id] for request_id in ids) or time.monotonic() > deadline:
                return {request_id: counts[request_id] for request_id in ids}
            time.sleep(0.1)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    pg_url, redis_url = os.environ.get("LLMGATE_TEST_DATABASE_URL"), os.environ.get("LLMGATE_TEST_REDIS_URL")
    if not pg_url or not redis_url:
        pytest.skip("LLMGATE_TEST_DATABASE_URL and LLMGATE_TEST_REDIS_URL are needed")
    good, bad = FakeUpstream().start(), FakeUpstream().start()
    bad.fail_next(Fault(status=500), times=10_000)
    try:
        with postgres_schema(pg_url) as url:
            config = upstream_config(good, database_url=url)
            flaky = [
                {
                    "model_name": "flaky",
                    "litellm_params": {"model": "openai/gpt-4o-mini", "api_base": upstream.base_url},
                }
                for upstream in (bad, good)
            ]
            config["model_list"] += flaky
            config["router_settings"] = {
                "redis_url": redis_url,
                "allowed_fails": 1,
                "cooldown_time": 60,
                "num_retries": 2,
            }
            namespace = f"scale-out-{os.urandom(4).hex()}"
            config["litellm_settings"] = {
                "cache": True,
                "cache_params": {"type": "redis", "redis_url": redis_url, "namespace": namespace},
            }
            replicas = Replicas(config, tmp_path_factory.mktemp("scale-out")).start()
            try:
                with RoundRobinBalancer(replicas.addresses) as balancer:
                    yield Cluster(url, replicas, balancer, bad)
            finally:
                replicas.stop()
    finally:
        good.stop()
        bad.stop()


def test_rate_limit_holds_across_replicas(cluster: Cluster) -> None:
    key, _ = cluster.key("scale-rpm", rpm=7)
    before = dict(cluster.balancer.connections)
    with cluster.client(key) as client:
        statuses = [cluster.call(client)[0] for _ in range(18)]
    assert statuses.count(200) == 7 and statuses.count(429) == 11
    spread = {i: cluster.balancer.connections[i] - before.get(i, 0) for i in range(3)}
    assert all(count >= 5 for count in spread.values()), spread  # every replica took its share
    with cluster.client(key) as client:
        status, error, headers = cluster.call(client)
    assert status == 429 and error.body["code"] == "rate_limit_exceeded"  # OpenAI's shape
    assert error.body["type"] and error.body["message"] and headers["retry-after"]


def test_token_limit_holds_across_replicas(cluster: Cluster) -> None:
    with cluster.client() as client:
        _, answer, _ = cluster.call(client)
    tokens = answer.usage.total_tokens
    key, _ = cluster.key("scale-tpm", tpm=3 * tokens + tokens // 2)  # room for 4 calls: 0, t, 2t, 3t < 3.5t
    statuses = []
    with cluster.client(key) as client:
        for _ in range(9):
            statuses.append(cluster.call(client)[0])
            time.sleep(0.2)  # tokens are counted as each answer completes
    assert statuses == [200] * 4 + [429] * 5


def test_budget_holds_across_replicas(cluster: Cluster) -> None:
    with cluster.client() as client:
        probe = cluster.call(client, max_tokens=40)[2]
    cluster.wait_stored([probe["x-llmgate-request-id"]])
    cost = Decimal(stored_costs_by_id(cluster, probe["x-llmgate-request-id"]))
    budget = 5 * cost
    key, key_id = cluster.key("scale-budget", budget_usd=str(budget))
    outcomes: list[int] = []

    def worker() -> None:
        with cluster.client(key) as client:
            for _ in range(6):
                outcomes.append(cluster.call(client, max_tokens=40)[0])

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    with cluster.client(key) as client:
        status, error, _ = cluster.call(client, max_tokens=40)
    assert status == 429 and error.body["type"] == "budget_exceeded"
    assert outcomes.count(200) >= 4 and set(outcomes) <= {200, 429}
    cluster.wait_stored(cluster.ids[-len(outcomes) - 1 :])
    spent = sum(Decimal(c) for s, c in stored_costs(cluster.url, key_id) if s == 200 and c is not None)
    assert spent == outcomes.count(200) * cost
    assert spent <= budget + cost  # passed by at most one call's cost, as the README says


def stored_costs_by_id(cluster: Cluster, request_id: str) -> Any:
    engine = create_engine_for(cluster.url)
    try:
        with engine.connect() as conn:
            return conn.exec_driver_sql(
                "SELECT cost_usd FROM requests WHERE id = %(id)s", {"id": request_id}
            ).scalar()
    finally:
        engine.dispose()


def test_a_cooldown_seen_by_one_replica_is_kept_by_the_others(cluster: Cluster) -> None:
    first, *others = cluster.replicas.urls
    with cluster.client(base=first) as client:
        for _ in range(20):
            assert cluster.call(client, model="flaky")[0] == 200  # retried on the good deployment
            if cluster.bad.received:
                break
    assert cluster.bad.received, "the first replica never tried the failing deployment"
    time.sleep(0.6)  # the cooldown reaches Redis at once and the others within a sync (200 ms)
    tried = len(cluster.bad.received)
    for base in others:
        with cluster.client(base=base) as client:
            for _ in range(15):
                status, _, headers = cluster.call(client, model="flaky")
                assert status == 200 and headers["x-llmgate-attempts"] == "1"
    assert len(cluster.bad.received) == tried  # skipped by the replicas that never saw it fail


def test_an_answer_cached_through_one_replica_is_a_hit_on_the_others(cluster: Cluster) -> None:
    messages = cluster.prompt()
    urls = cluster.replicas.urls
    with cluster.client(base=urls[0]) as client:
        _, miss, headers = cluster.call(client, messages=messages)
    assert headers["x-llmgate-cache"] in ("miss", "bypass")
    for base in urls[1:]:
        deadline = time.monotonic() + 5
        with cluster.client(base=base) as client:
            while (hit := cluster.call(client, messages=messages))[2]["x-llmgate-cache"] != "hit":
                assert time.monotonic() < deadline, "never a hit"
                time.sleep(0.05)
        assert hit[1].choices[0].message.content == miss.choices[0].message.content


def test_a_replica_killed_mid_load_loses_no_acknowledged_record(cluster: Cluster) -> None:
    answered: list[str] = []  # ids of the calls the client got an answer for
    failures: list[BaseException] = []
    stop = threading.Event()
    after_kill = threading.Event()
    served_after_kill = [0]

    def load() -> None:
        with cluster.client() as client:
            while not stop.is_set():
                try:
                    status, _, headers = cluster.call(client)
                except openai.APIConnectionError as error:  # in flight on the killed replica
                    failures.append(error)
                    continue
                assert status == 200
                answered.append(headers["x-llmgate-request-id"])
                if after_kill.is_set():
                    served_after_kill[0] += 1

    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(2)
    cluster.replicas.kill(1)
    after_kill.set()
    time.sleep(2)
    stop.set()
    for thread in threads:
        thread.join(30)
    assert served_after_kill[0] >= 20  # the other replicas kept serving
    assert len(failures) <= len(threads)  # at most the calls in flight on the killed replica
    cluster.cut_off += len(failures)
    assert cluster.balancer.refused[1] > 0  # the balancer went round the dead replica

    cluster.replicas.restart(1)  # same spill directory: what it spilled is replayed
    counts = cluster.wait_stored(answered)
    assert [i for i, n in counts.items() if n != 1] == []


def test_every_call_is_stored_once(cluster: Cluster) -> None:
    counts = cluster.wait_stored(cluster.ids)
    assert len(set(cluster.ids)) == len(cluster.ids)
    assert [i for i, n in counts.items() if n != 1] == []
    stored = stored_ids(cluster.url)
    assert max(stored.values()) == 1
    # beyond the calls the client got an answer for, at most the ones cut off by the kill (answered
    # by the replica, recorded, but the answer never reached the client)
    assert len(cluster.ids) <= len(stored) <= len(cluster.ids) + cluster.cut_off
