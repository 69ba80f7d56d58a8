"""Fuzzing the admin API from its own OpenAPI schema: no request makes it answer 5xx.

schemathesis reads ``GET /openapi.json`` of a real ``llmgate serve`` (asked with the master key)
and generates requests for every operation, valid ones (positive) and invalid ones (negative:
wrong types, missing fields, odd query strings), sent with the master key. The store is up, so a
5xx is always a bug: a 500, or a 503 that blames a store outage for a bad parameter. Runs are
deterministic (``derandomize``) and bounded (``EXAMPLES`` per operation and mode).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from support.configs import MASTER_KEY
from support.served import ServedGateway

pytestmark = pytest.mark.slow

EXAMPLES = 15  # per operation and generation mode
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=list(HealthCheck),
)
ADMIN = {"Authorization": f"Bearer {MASTER_KEY}"}
CONFIG = {
    "model_list": [{"model_name": "mock-echo", "litellm_params": {"model": "mock/echo"}}],
    "general_settings": {"master_key": MASTER_KEY},
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedGateway]:
    gateway = ServedGateway(CONFIG, tmp_path_factory.mktemp("fuzz-admin")).start()
    # something to find: a team and a key in it, and a request on record
    for path, body in [
        ("/admin/teams", {"alias": "fuzz-team"}),
        ("/admin/keys", {"alias": "k", "team_id": "fuzz-team"}),
    ]:
        assert httpx.post(gateway.url + path, headers=ADMIN, json=body, timeout=60).status_code == 201
    chat = {"model": "mock-echo", "messages": [{"role": "user", "content": "hi"}]}
    assert (
        httpx.post(gateway.url + "/v1/chat/completions", headers=ADMIN, json=chat, timeout=60).status_code
        == 200
    )
    yield gateway
    gateway.stop()


#: hand-picked hostile parameter values, sent to every query and path parameter besides the generated ones
HOSTILE = [
    "99999999d", "-99999999d", "0d", "1e309", "9" * 400, "\x00", "a\x00b", "%00", "tag:\x00", "tag:", "tag:" + "x" * 2000,
    "2024-13-45", "9999-12-31T23:59:59+14:00", "0001-01-01", "NaN", "-1", "0", "true", "", " ", "../../etc/passwd",
    "x" * 8000, "\u2028", "😀", "model,tag:team,user", "'; DROP TABLE requests; --",
]  # fmt: skip


def test_admin_api_never_answers_5xx(served: ServedGateway) -> None:
    spec = httpx.get(served.url + "/openapi.json", headers=ADMIN, timeout=60).json()
    schema = schemathesis.openapi.from_dict(spec)
    tried: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    timings: dict[str, float] = {}
    with requests.Session() as session:

        def send(label: str, case: schemathesis.Case) -> None:
            response = case.call(base_url=served.url, session=session, headers=ADMIN, timeout=60)
            tried[label] += 1
            statuses[response.status_code] += 1
            if response.status_code >= 500:
                request = response.request
                failures.append(
                    f"{request.method} {request.url} body {str(request.body)[:200]!r} -> "
                    f"{response.status_code} {response.text[:200]!r}"
                )

        def sender(label: str) -> Callable[[schemathesis.Case], None]:
            def one(case: schemathesis.Case) -> None:
                send(label, case)

            return one

        for result in schema.get_all_operations():
            operation = result.ok()
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                began = time.monotonic()
                strategy = operation.as_strategy(generation_mode=mode)
                fuzz = FUZZ(given(case=strategy)(sender(operation.label)))
                try:
                    fuzz()
                except Unsatisfiable:  # no parameters and no body: nothing to make invalid
                    assert mode is GenerationMode.NEGATIVE, operation.label
                timings[f"{operation.label} {mode.value}"] = time.monotonic() - began
            paths = {p.name: "x" for p in operation.path_parameters}
            for parameter in [*operation.query, *operation.path_parameters]:
                for value in HOSTILE:
                    where = "query" if parameter.location == "query" else "path_parameters"
                    fixed = {"query": {}, "path_parameters": dict(paths)}
                    fixed[where][parameter.name] = value
                    send(operation.label, operation.Case(**fixed))  # type: ignore[arg-type]
    print(
        f"\nadmin API: {sum(tried.values())} requests over {len(tried)} operations, statuses {dict(sorted(statuses.items()))}"
    )
    slowest = sorted(timings.items(), key=lambda item: -item[1])[:5]
    print("slowest:", ", ".join(f"{name} {seconds:.1f} s" for name, seconds in slowest))
    assert len(tried) >= 15  # every operation of the schema was reached
    assert not failures, f"{len(failures)} answers were 5xx:\n" + "\n".join(failures[:30])


@pytest.mark.parametrize("path", ["/admin/teams", "/admin/keys"])
def test_a_budget_the_store_cannot_hold_is_refused_with_4xx(served: ServedGateway, path: str) -> None:
    """Found by the fuzz: a budget between the store's largest amount and the old 1e9 cap was a 503."""
    body = {"alias": f"big-budget-{path.rsplit('/', 1)[-1]}", "budget_usd": 973303162.78}
    response = httpx.post(served.url + path, headers=ADMIN, json=body, timeout=60)
    assert 400 <= response.status_code < 500, response.text
