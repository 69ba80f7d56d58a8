"""Both arms of a canary on one loopback upstream, and the RAG traffic the canary tests send.

``Arms`` is a chat handler for ``upstream.serve_chat`` that answers by the body's ``model``:

- ``stable-model`` answers from the context the prompt carries: the sentence of the ``<context>``
  section that shares the most words with the question, repeated as it is (a grounded answer);
- ``errors-model`` fails 2 calls in 5 (HTTP 500, exactly 40%), else answers as stable;
- ``slow-model`` answers as stable, ``SLOW_S`` later;
- ``ungrounded-model`` answers with the row's HaluEval hallucinated answer and a fabricated
  sentence (names and numbers the context never mentions), about as long as stable's answers;
- ``same-model`` answers exactly as stable.

``prompt`` makes a RAG request from a HaluEval QA row (``../shared/data``): the context in the
user message between ``<context>`` tags, its passages also in the ``x-llmgate-context`` header
(where the monitors read them, ``monitors/rag_extract.py``). ``Traffic`` sends such requests with
the openai SDK from several threads, each from one of many users, spread over gateway replicas.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import openai
import orjson
from aiohttp import web

from support.configs import MASTER_KEY

STABLE, ERRORS, SLOW, UNGROUNDED, SAME = (
    "stable-model",
    "errors-model",
    "slow-model",
    "ungrounded-model",
    "same-model",
)
#: the slow candidate's extra time per call: far above a loopback call's few milliseconds
SLOW_S = 0.06
#: sentences no HaluEval context contains: invented people, places and numbers
FABRICATED = (
    "This was confirmed in 1873 by Dr. Halvard Quenby of the Tromsø Institute, who counted 4,862 records.",
    "Professor Odile Marchetti of Vellmar University documented it in 1911 across 37 separate archives.",
    "According to the 1927 Kessendorf census, Brigadier Anselm Tovey oversaw all 612 of those cases.",
)
_CONTEXT = re.compile(r"<context>\s*(.*?)\s*</context>", re.S)
_QUESTION = re.compile(r"Question:\s*(.*)", re.S)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[a-z0-9)\"][.!?])(?=[A-Z])")
_WORD = re.compile(r"[a-z0-9]+")


def passages(knowledge: str) -> list[str]:
    """A HaluEval context's passages (its Wikipedia paragraphs are joined without a space)."""
    return [part for part in re.split(r"(?<=[a-z0-9)\"][.!?])(?=[A-Z])", knowledge) if part.strip()]


def prompt(row: dict[str, Any]) -> tuple[str, str]:
    """A RAG request from a HaluEval QA row: the user message, and the ``x-llmgate-context`` header."""
    message = f"<context>\n{row['knowledge']}\n</context>\n\nQuestion: {row['question']}"
    return message, json.dumps(passages(row["knowledge"]))


def grounded_answer(message: str) -> str:
    """The sentence of the message's context sharing most words with its question."""
    context = _CONTEXT.search(message)
    question = _QUESTION.search(message)
    if context is None or question is None:
        return "I have no context to answer from."
    asked = set(_WORD.findall(question.group(1).lower()))
    sentences = [s.strip() for s in _SENTENCE_END.split(context.group(1)) if s.strip()]
    return max(sentences, key=lambda s: len(asked & set(_WORD.findall(s.lower()))))


class Arms:
    """The upstream of both arms (see the module doc); ``calls`` counts the calls per model."""

    def __init__(self, rows: Sequence[dict[str, Any]]) -> None:
        self._made_up = {row["question"]: row["hallucinated_answers"][0] for row in rows}
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def count(self, model: str) -> int:
        with self._lock:
            return self.calls[model]

    def answer(self, model: str, message: str) -> str:
        if model == UNGROUNDED:
            question = _QUESTION.search(message)
            asked = question.group(1).strip() if question else ""
            made_up = self._made_up.get(asked, "It was founded by Count Ernő Valdrimsky in 1788.")
            return f"{made_up} {FABRICATED[len(asked) % len(FABRICATED)]}"
        return grounded_answer(message)

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        model = str(body.get("model"))
        with self._lock:
            self.calls[model] += 1
            n = self.calls[model]
        if model == ERRORS and n % 5 < 2:
            error = {"error": {"message": "candidate overloaded", "type": "server_error", "code": None}}
            return web.json_response(error, status=500)
        if model == SLOW:
            await asyncio.sleep(SLOW_S)
        messages = body.get("messages") or [{}]
        message = str(messages[-1].get("content") or "")
        text = self.answer(model, message)
        prompt_tokens, completion_tokens = len(message.split()), len(text.split())
        payload = {
            "id": f"chatcmpl-{model}-{n}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
        return web.Response(body=orjson.dumps(payload), content_type="application/json")


@dataclass(frozen=True)
class Answer:
    """One response as the app saw it: which replica, which user, its canary headers and text."""

    replica: int
    user: str
    arm: str | None  # the x-llmgate-canary header (None: not routed through a canary)
    canary_id: str | None
    text: str
    at: float  # time.monotonic() when it arrived


@dataclass
class Traffic:
    """RAG chat requests through the openai SDK from ``threads`` threads, to the ``urls`` (gateway
    replicas) in turn, each from a user drawn from ``users``, each thread waiting ``pause_s`` after
    each answer; ``answers`` and ``errors`` fill in as they come. ``run(n)`` sends ``n`` and
    returns; ``start()`` sends until ``stop()``."""

    urls: Sequence[str]
    rows: Sequence[dict[str, Any]]
    users: Sequence[str]
    threads: int = 6
    model: str = "chat"
    seed: int = 0
    pause_s: float = 0.0
    answers: list[Answer] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []
        self._sequence = itertools.count()
        self._lock = threading.Lock()
        self._limit: int | None = None

    def start(self, limit: int | None = None) -> Traffic:
        self._stop.clear()
        self._limit = None if limit is None else len(self.answers) + len(self.errors) + limit
        self._sequence = itertools.count(len(self.answers) + len(self.errors))
        self._workers = [
            threading.Thread(target=self._work, args=(self.seed * 1000 + i + len(self.answers),), daemon=True)
            for i in range(self.threads)
        ]
        for worker in self._workers:
            worker.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(60)
        self._workers = []

    def run(self, n: int) -> list[Answer]:
        """Send ``n`` requests (from every thread) and return their answers."""
        before = len(self.answers)
        self.start(limit=n)
        for worker in self._workers:
            worker.join(300)
        self._workers = []
        return self.answers[before:]

    def _work(self, seed: int) -> None:
        rng = random.Random(seed)
        clients = [
            openai.OpenAI(base_url=url + "/v1", api_key=MASTER_KEY, max_retries=0) for url in self.urls
        ]
        try:
            while not self._stop.is_set():
                i = next(self._sequence)
                if self._limit is not None and i >= self._limit:
                    return
                replica = i % len(self.urls)
                user = rng.choice(self.users)
                self._send(clients[replica], replica, user, rng.choice(self.rows))
                if self.pause_s:
                    self._stop.wait(self.pause_s)
        finally:
            for client in clients:
                client.close()

    def _send(self, client: openai.OpenAI, replica: int, user: str, row: dict[str, Any]) -> None:
        message, context = prompt(row)
        try:
            raw = client.chat.completions.with_raw_response.create(
                model=self.model,
                messages=[{"role": "user", "content": message}],
                user=user,
                extra_headers={"x-llmgate-context": context},
            )
            text = raw.parse().choices[0].message.content or ""
        except Exception as exc:  # kept: the tests assert the app never saw one
            with self._lock:
                self.errors.append(exc)
            return
        answer = Answer(
            replica,
            user,
            raw.headers.get("x-llmgate-canary"),
            raw.headers.get("x-llmgate-canary-id"),
            text,
            time.monotonic(),
        )
        with self._lock:
            self.answers.append(answer)
