"""The response cache as the gateway uses it: look a request up, keep its answer, report, clear.

``lookup`` runs after a request is admitted and before any upstream is tried. It reads the
request's controls (``directives.py``; the body's ``cache`` field is taken out here, whatever the
outcome), files the request under its key (``keys.py``) and asks the backend, then the semantic
index when the semantic cache is on for the request's model group (or its key or team opted in)
and the request is eligible (``semantic_rules.py``). It fills the record's ``cache``,
``cache_key`` and ``cache_similarity`` and answers with a ``Lookup``:

- a hit: the entry (``entries.py``), and the SSE chunks that replay it for a ``stream: true``
  request (``replay.py``); the record's deployment is the one that first answered (its prices);
- a miss, or a bypass (``no-cache``, a backend that failed or was too slow): the ``Plan`` for
  keeping the answer, None when it must not be kept (``no-store``, a key or team denied the cache).

``store`` keeps a successful answer in a background task, never on the request path: a streamed
answer only once it completed (assembled into its JSON), never an error, a cut stream or a
refusal. Every backend call goes through ``guard.py``: bounded, skipped while failing, counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from llmgate.auth.keys import Identity
from llmgate.cache.base import CacheBackend, SemanticIndex
from llmgate.cache.directives import read_directives
from llmgate.cache.entries import JSON, Entry, decode, encode, storable
from llmgate.cache.guard import Guard, Skipped
from llmgate.cache.keys import canonical_digest, entry_key, match_pattern, scope_of, space_key, space_pattern
from llmgate.cache.policy import CachePolicy
from llmgate.cache.replay import Replayed, assemble, replay_chunks
from llmgate.config.deployment import Deployment
from llmgate.errors import LlmgateError
from llmgate.protocol.requests import ParsedRequest
from llmgate.providers.base import UpstreamStream
from llmgate.telemetry.call_record import CallRecord

__all__ = ["NOTHING", "CacheUnavailable", "Lookup", "Plan", "ResponseCache", "cache_headers"]

#: a semantic lookup embeds the question first: bounded more loosely than a key lookup
SEMANTIC_TIMEOUT_S = 0.5
#: storing happens after the answer was sent: it may take longer than a lookup
STORE_TIMEOUT_S = 1.0
#: ``stats`` and ``clear`` walk the backend's keys
ADMIN_TIMEOUT_S = 30.0

OUTCOMES = ("hit", "semantic-hit", "miss", "bypass", "errors")


class SemanticRequest(Protocol):
    def __call__(
        self, endpoint: str, body: Mapping[str, Any], settings: Any
    ) -> tuple[dict[str, Any], str] | None: ...


class CacheUnavailable(LlmgateError):
    """The backend could not be reached for an administrative call (stats, clear)."""

    status_code = 503
    error_type = "server_error"
    code = "cache_unavailable"


@dataclass(slots=True)
class Plan:
    """How to keep a request's answer: under which key, for how long, and its semantic space."""

    cache: ResponseCache
    key: str
    ttl_s: float
    endpoint: str
    model: str
    keep_stream: bool = True  # False: a stream whose reassembly would lose something (n > 1, logprobs)
    space: str | None = None
    text: str | None = None

    def keep(self, call: CallRecord, body: bytes, content_type: str) -> None:
        """Keep a complete answer (in the background; only a 200)."""
        self.cache.store(self, call, body, content_type)

    def keeping(self, stream: UpstreamStream, call: CallRecord) -> UpstreamStream:
        """``stream``, whose answer is kept once it ended, if it ended well."""
        return _Kept(stream, lambda: self.cache.store(self, call))


class _Kept:
    """An upstream stream that hands its answer to the cache when it is closed (the gateway closes
    it once the stream ended, after noting on the record how it ended)."""

    def __init__(self, stream: UpstreamStream, on_end: Callable[[], None]) -> None:
        self._stream = stream
        self._on_end: Callable[[], None] | None = on_end
        self.status, self.content_type, self.headers = stream.status, stream.content_type, stream.headers

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._stream.__aiter__()

    async def aclose(self) -> None:
        await self._stream.aclose()
        on_end, self._on_end = self._on_end, None
        if on_end is not None:
            on_end()


@dataclass(slots=True)
class Lookup:
    plan: Plan | None = None
    entry: Entry | None = None  # a hit
    replay: Replayed | None = None  # a hit told as SSE, for a stream request


#: the cache has nothing to say about this request (its endpoint or model group is not cached)
NOTHING = Lookup()


def cache_headers(call: CallRecord) -> dict[str, str]:
    """``x-llmgate-cache`` (and the key, and a semantic hit's similarity) for a cached-or-not answer."""
    headers = {"x-llmgate-cache": call.cache or "bypass"}
    if call.cache_key is not None:
        headers["x-llmgate-cache-key"] = call.cache_key
    if call.cache_similarity is not None:
        headers["x-llmgate-cache-similarity"] = f"{call.cache_similarity:.4f}"
    return headers


class ResponseCache:
    def __init__(
        self,
        policy: CachePolicy,
        backend: CacheBackend,
        *,
        deployment: Callable[[str], Deployment | None],
        count: Callable[[str, tuple[str, ...]], None] | None = None,
        semantic: tuple[SemanticRequest, SemanticIndex] | None = None,
    ) -> None:
        self.policy = policy
        self.backend = backend
        self._deployment = deployment  # a deployment by id: a hit is priced as its first answer was
        self._guard = Guard(backend.name, count, bounded=backend.name != "local")
        self._rules: SemanticRequest | None = semantic[0] if semantic is not None else None
        self._index: SemanticIndex | None = semantic[1] if semantic is not None else None
        self._tasks: set[asyncio.Task[None]] = set()
        self._counts: dict[str, dict[str, int]] = {}

    async def start(self) -> None:
        """Connect to the backend and rebuild the semantic index from it (in the background of
        start-up), so the first lookups do not pay for the connection."""
        with contextlib.suppress(Skipped):
            await self._guard.call("get", self.backend.get(f"{self.policy.namespace}:warm"), STORE_TIMEOUT_S)
        if self._index is not None:
            await self._index.start()

    # --- the request path -----------------------------------------------------------------

    def _note(self, call: CallRecord, outcome: str) -> None:
        call.cache = outcome if outcome != "errors" else "bypass"
        counts = self._counts.setdefault(call.model, dict.fromkeys(OUTCOMES, 0))
        counts[outcome] += 1
        if outcome == "errors":
            counts["bypass"] += 1

    async def lookup(
        self,
        endpoint: str,
        call: CallRecord,
        request: ParsedRequest,
        identity: Identity,
        headers: Mapping[str, str],
        group: str | None = None,
    ) -> Lookup:
        """Look ``request`` up (its ``cache`` field is taken out of its body, whatever happens).
        ``group``: the model group it is routed to when not ``call.model`` (a promoted canary's
        candidate, ``routing/canaries.py``): the entries are filed under it, the settings are the model's."""
        body, stream = request.body, request.stream
        key_row, team = identity.key, identity.team
        directives = read_directives(
            body, headers, key_row.metadata if key_row else None, team.metadata if team else None
        )
        policy = self.policy
        if endpoint not in policy.endpoints:
            return NOTHING
        exact, semantic = policy.for_group(call.model)
        if directives.semantic and exact and call.model not in policy.semantic_off:
            semantic = True  # a key or team opted in (a group's own ``semantic: false`` wins)
        if not (exact or semantic):
            return NOTHING
        scope = scope_of(policy.scope, call.key_id, call.team_id)
        namespace = directives.namespace or policy.namespace
        filed = group or call.model
        key = call.cache_key = entry_key(namespace, filed, scope, canonical_digest(endpoint, filed, body))
        if directives.denied:
            self._note(call, "bypass")
            return NOTHING
        ttl = directives.ttl_s if directives.ttl_s is not None else policy.ttl_s
        plan = None
        if not directives.no_store and ttl > 0:
            keep = not stream or (not body.get("logprobs") and body.get("n") in (None, 1))
            plan = Plan(self, key, ttl, endpoint, filed, keep_stream=keep)
        rule = self._rules(endpoint, body, policy.semantic) if semantic and self._rules is not None else None
        space = (
            space_key(namespace, filed, scope, canonical_digest(endpoint, filed, rule[0])) if rule else None
        )
        if plan is not None and rule is not None:
            plan.space, plan.text = space, rule[1]
        if directives.no_cache:
            self._note(call, "bypass")
            return Lookup(plan)
        timeout, max_age = policy.lookup_timeout_s, directives.max_age_s
        try:
            entry = None
            if exact:
                value = self.backend.peek(key)  # held in this process: no I/O, outside the bounds
                if value is None:
                    value = await self._guard.call("get", self.backend.get(key), timeout)
                entry = self._fresh(value, max_age)
            if entry is None and rule is not None and space is not None and self._index is not None:
                found = await self._guard.call("find", self._index.find(space, rule[1]), SEMANTIC_TIMEOUT_S)
                if found is not None:
                    stored = self.backend.peek(found[0])
                    if stored is None:
                        stored = await self._guard.call("get", self.backend.get(found[0]), timeout)
                    entry = self._fresh(stored, max_age)
                    if entry is not None:
                        call.cache_key, call.cache_similarity = found
        except Skipped:
            self._note(call, "errors")
            return Lookup(plan)
        chunks = None
        if entry is not None and stream:
            chunks = replay_chunks(endpoint, entry.body, request.include_usage)
        if entry is None or (stream and chunks is None):
            call.cache_similarity = None
            self._note(call, "miss")
            return Lookup(plan)
        self._note(call, "semantic-hit" if call.cache_similarity is not None else "hit")
        call.deployment = self._deployment(entry.deployment) if entry.deployment else None
        return Lookup(None, entry, Replayed(chunks) if chunks is not None else None)

    @staticmethod
    def _fresh(value: bytes | None, max_age_s: float | None) -> Entry | None:
        entry = decode(value) if value is not None else None
        if entry is None or (max_age_s is not None and entry.age_s() > max_age_s):
            return None
        return entry

    def store(
        self, plan: Plan, call: CallRecord, body: bytes | None = None, content_type: str = JSON
    ) -> None:
        """Keep ``call``'s answer (``body``; a stream's chunks when None) in the background, if it
        succeeded. Never waits."""
        if call.status_code != 200 or call.error_type is not None:
            return
        if body is None and not plan.keep_stream:
            return
        deployment = call.deployment.id if call.deployment is not None else None
        chunks = call.stream_chunks if body is None else None
        task = asyncio.get_running_loop().create_task(
            self._store(plan, body, chunks, content_type, deployment)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _store(
        self,
        plan: Plan,
        body: bytes | None,
        chunks: list[bytes] | None,
        content_type: str,
        deployment: str | None,
    ) -> None:
        if body is None:
            body, content_type = assemble(plan.endpoint, chunks or []), JSON
        if body is None or not storable(plan.endpoint, body):
            return
        entry = Entry(body, content_type, time.time(), deployment, plan.model)
        try:
            await self._guard.call(
                "set", self.backend.set(plan.key, encode(entry), plan.ttl_s), STORE_TIMEOUT_S
            )
        except Skipped:
            return
        if self._index is not None and plan.space is not None and plan.text is not None:
            self._index.add(plan.space, plan.text, plan.key, plan.ttl_s)

    # --- administration -------------------------------------------------------------------

    async def stats(self) -> dict[str, Any]:
        """The backend, what it holds, and this process's outcomes by model group."""
        try:
            held: dict[str, int | None] = dict(
                await self._guard.call("stats", self.backend.stats(), ADMIN_TIMEOUT_S)
            )
        except Skipped:
            held = {"entries": None, "bytes": None}
        models = {model: dict(counts) for model, counts in sorted(self._counts.items())}
        totals = {outcome: sum(c[outcome] for c in models.values()) for outcome in OUTCOMES}
        index = {"semantic_index": self._index.stats()} if self._index is not None else {}
        return {
            "backend": self.backend.name,
            "namespace": self.policy.namespace,
            "scope": self.policy.scope,
            "semantic": self._index is not None,
            "entries": held.get("entries"),
            "bytes": held.get("bytes"),
            "errors": self._guard.errors,
            "totals": totals,
            "models": models,
            **index,
        }

    async def clear(self, model: str | None = None, team: str | None = None) -> int:
        """Forget the entries of one model group and/or team (every entry with neither); how many."""
        pattern = match_pattern(self.policy.namespace, "e", model, team)
        try:
            gone = await self._guard.call("clear", self.backend.delete_matching(pattern), ADMIN_TIMEOUT_S)
        except Skipped as exc:
            raise CacheUnavailable(f"the {self.backend.name} cache backend could not be reached") from exc
        if self._index is not None:  # the namespace's vectors only, here and in the backend
            await self._index.clear(space_pattern(self.policy.namespace, model, team))
        else:  # no index in this process (the CLI on Redis): the persisted vectors go all the same
            vectors = match_pattern(self.policy.namespace, "v", model, team)
            with contextlib.suppress(Skipped):
                await self._guard.call("clear", self.backend.delete_matching(vectors), ADMIN_TIMEOUT_S)
        return gone

    async def close(self) -> None:
        """Finish the stores under way (briefly), then close the index and the backend."""
        if self._tasks:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait(set(self._tasks), timeout=STORE_TIMEOUT_S)
        if self._index is not None:
            await self._index.close()
        await self.backend.close()
