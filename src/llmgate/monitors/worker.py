"""The monitor worker: read new records from the store, sample, embed, score, evaluate, alert.

One pass (``run_once``):

1. Read the records stored since the last pass (their ids, times and models only), from
   ``lookback_s`` before the saved cursor up to ``settle_s`` ago, so that a long stream stored
   after newer requests is still seen; records already sampled or already decided are skipped.
2. Sample: a record is kept when a hash of its id falls under its model's ``sample_rate``, so the
   decision is the same on every pass and every replica. The monitor's own embedding calls (user
   ``llmgate-monitor``) are never kept.
3. Fetch the kept records, embed their prompts and answers in batches with the one embedder
   (``quality/embedder.py``), score retrieval quality where a request carried context
   (``rag_quality.py``), and store the samples (``monitor_samples``).
4. Evaluate every model and route that got new samples, or holds an open condition
   (``evaluate.py``), store the statistics and raise or resolve alerts (``conditions.py``).
5. Record the pass's health (``health.py``). Each step runs on its own: a failing one is counted
   and the others go on; failed passes in a row raise a ``monitor.failing`` alert.

The worker is synchronous (the embedder is): ``llmgate monitor`` runs it in its own process,
at a lower CPU priority than the gateway, and ``llmgate serve`` starts that process when
``llmgate.monitors.enabled`` is set. Nothing here runs on the request path.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from llmgate.monitors.conditions import apply_report, last_clean_times
from llmgate.monitors.evaluate import evaluate_group
from llmgate.monitors.features import EXCERPT_CHARS, MONITOR_USER, output_sample, prompt_text
from llmgate.monitors.health import CURSOR_STATE, HealthTracker, describe
from llmgate.monitors.rag_extract import HEADER_KEY
from llmgate.monitors.rag_quality import context_sources, extract_rag, score_rag
from llmgate.quality.embedder import make_embedder
from llmgate.store import monitors as queries
from llmgate.telemetry.call_ids import random_fraction

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from sqlalchemy.engine import Engine

    from llmgate.config.monitors import MonitorSettings
    from llmgate.quality.embedder import TextEmbedder
    from llmgate.telemetry.alerts import Alert, Sink
    from llmgate.telemetry.tracing import Tracing

log = logging.getLogger("llmgate.monitors")

__all__ = ["MonitorWorker", "PassResult", "monitor_embedder", "sampled"]

_RAG_COLUMNS = ("context_relevance", "groundedness", "answer_relevance", "rag_json")
#: Candidate records read per query; a busier store is read in several queries per pass.
_READ_LIMIT = 20_000


def sampled(record_id: str, rate: float) -> bool:
    """Is a record in the sample? The random end of its id under ``rate`` (``call_ids.py``)."""
    if rate >= 1:
        return True
    if rate <= 0:
        return False
    try:
        return random_fraction(record_id) < rate
    except ValueError:
        return False


def monitor_embedder(settings: MonitorSettings, *, master_key: str | None = None) -> TextEmbedder:
    """The embedder ``llmgate.monitors.embedder`` asks for (the model loads lazily, on first use)."""

    e = settings.embedder
    if e.deployment is not None:
        assert e.base_url is not None
        key = e.api_key.get_secret_value() if e.api_key is not None else master_key
        return make_embedder(
            e.deployment, base_url=e.base_url, api_key=key, batch_size=e.batch_size, cache_size=e.cache_size
        )
    return make_embedder(
        e.model, batch_size=e.batch_size, cache_size=e.cache_size, threads=e.threads, precision=e.precision
    )


@dataclass
class PassResult:
    """What one pass did."""

    read: int = 0
    sampled: int = 0
    rag_scored: int = 0
    evaluated: list[tuple[str, str, str]] = field(default_factory=list)  # (model, route, status)
    alerts: list[Alert] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # one line per failed step; none: the pass succeeded
    seconds: float = 0.0


class MonitorWorker:
    """Samples, embeds and evaluates live traffic; see the module docstring."""

    def __init__(
        self,
        settings: MonitorSettings,
        *,
        engine: Engine,
        sinks: Sequence[Sink],
        embedder: TextEmbedder,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        start: datetime | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self.settings = settings
        self.tracing = tracing  # drift and retrieval scores as OpenTelemetry evaluation events
        self.engine = engine
        self.sinks = list(sinks)
        self.embedder = embedder
        self.clock = clock
        self._start = start
        self._decided: dict[str, datetime] = {}  # record id -> time, for records skipped or sampled
        self.health = HealthTracker(engine, settings, self.sinks)
        self._sources = context_sources(settings.rag)

    # --- the loop ------------------------------------------------------------------------------

    def run_forever(self, stop: threading.Event) -> None:
        """Pass after pass, every ``interval_s``, until ``stop`` is set. A failing pass (the store
        is down, say) is logged and retried on the next one."""
        while not stop.is_set():
            began = time.monotonic()
            try:
                result = self.run_once()
                if result.sampled or result.alerts or result.errors:
                    log.info(
                        "monitor pass: %d read, %d sampled, %d RAG scored, %d evaluated, %d alerts, %.2f s",
                        result.read,
                        result.sampled,
                        result.rag_scored,
                        len(result.evaluated),
                        len(result.alerts),
                        result.seconds,
                    )
            except Exception as exc:  # keep monitoring; the next pass retries
                log.warning("monitor pass failed: %s", describe(exc))
            stop.wait(max(0.0, self.settings.interval_s - (time.monotonic() - began)))

    def run_once(self) -> PassResult:
        """One pass: sample and store new records, evaluate what changed, record the pass's health.
        A failing step is counted in ``result.errors`` and the later ones still run."""
        began = time.monotonic()
        result = PassResult()
        touched = self._step(result, "sampling", partial(self._sample, result)) or set()
        held = self._step(result, "open conditions", self._held_groups) or set()
        for model, route in sorted(touched | held):
            self._step(result, f"evaluating {model} {route}", partial(self._evaluate, model, route, result))
        self._step(result, "housekeeping", self._forget_old)
        result.seconds = time.monotonic() - began
        result.alerts += self.health.record(result.errors, self.clock())
        return result

    def _step(self, result: PassResult, name: str, step: Callable[[], Any]) -> Any:
        try:
            return step()
        except Exception as exc:  # one failing step must not stop the others, nor later passes
            message = f"{name}: {describe(exc)}"
            log.warning("monitor pass: %s", message)
            result.errors.append(message)
            return None

    def _evaluate(self, model: str, route: str, result: PassResult) -> None:
        now = self.clock()
        report = evaluate_group(
            self.engine,
            self.settings,
            model,
            route,
            now=now,
            last_clean=last_clean_times(self.engine, model, route),
        )
        result.evaluated.append((model, route, report.status))
        result.errors += report.errors
        if self.tracing is not None:
            self._export_statistics(report.statistics, model, route)
        result.alerts += apply_report(
            self.engine,
            report,
            sinks=self.sinks,
            resolve_after=self.settings.drift.resolve_after,
            now=now,
        )

    def _export_statistics(self, statistics: list[dict[str, Any]], model: str, route: str) -> None:
        """Each statistic of an evaluation as a ``gen_ai.evaluation.result`` event."""
        assert self.tracing is not None
        for stat in statistics:
            self.tracing.record_evaluation(
                f"llmgate.{stat['kind']}.{stat['name']}",
                score=stat["value"],
                label="breached" if stat["breached"] else "ok",
                extra={
                    "llmgate.model": model,
                    "llmgate.route": route,
                    "llmgate.threshold": stat.get("threshold"),
                    "llmgate.p_value": stat.get("p_value"),
                },
            )

    def _export_rag(self, row: dict[str, Any]) -> None:
        """A sampled request's retrieval-quality scores as evaluation events tied to its id."""
        assert self.tracing is not None
        for name in ("context_relevance", "groundedness", "answer_relevance"):
            if row.get(name) is not None:
                self.tracing.record_evaluation(
                    name,
                    score=row[name],
                    extra={"llmgate.request.id": row.get("record_id"), "llmgate.model": row.get("model")},
                )

    # --- sampling ------------------------------------------------------------------------------

    def _sample(self, result: PassResult) -> set[tuple[str, str]]:
        s = self.settings
        now = self.clock()
        until = now - timedelta(seconds=s.settle_s)
        saved = queries.load_state(self.engine, CURSOR_STATE)
        if saved is not None:
            cursor = datetime.fromisoformat(saved["at"])
        else:
            cursor = self._start or now - timedelta(seconds=s.lookback_s)
        after = cursor - timedelta(seconds=s.lookback_s) if saved is not None else cursor
        touched: set[tuple[str, str]] = set()
        while True:
            candidates = queries.candidate_records(
                self.engine, after=after, until=until, routes=s.routes, limit=_READ_LIMIT
            )
            result.read += len(candidates)
            fresh = [c for c in candidates if c[0] not in self._decided]
            keep = [
                c
                for c in fresh
                if c[3] != MONITOR_USER and sampled(c[0], s.sample_rates.get(c[2], s.sample_rate))
            ]
            done = queries.already_sampled(self.engine, [c[0] for c in keep])
            todo = [c[0] for c in keep if c[0] not in done]
            for start in range(0, len(todo), s.batch_size):
                chunk = todo[start : start + s.batch_size]
                touched |= self._sample_records(chunk, result)
            for record_id, created_at, _, _ in fresh:
                self._decided[record_id] = created_at
            if len(candidates) < _READ_LIMIT:
                cursor = max(cursor, until)
                break
            after = candidates[-1][1]
            cursor = max(cursor, after)
        queries.save_state(self.engine, CURSOR_STATE, {"at": cursor.isoformat()}, now)
        return touched

    def _sample_records(self, ids: list[str], result: PassResult) -> set[tuple[str, str]]:
        records = queries.fetch_records(self.engine, ids)
        prepared = []
        for record in records:
            request = _loads(record["request_json"])
            text = prompt_text(record["endpoint"], request)
            if text is None:
                continue
            prepared.append((record, request, text))
        if not prepared:
            return set()
        prompts = self.embedder.encode([text for _, _, text in prepared])
        answers = [record["response_text"] or "" for record, _, _ in prepared]
        answer_rows = [i for i, answer in enumerate(answers) if answer.strip()]
        answer_vectors = self.embedder.encode([answers[i] for i in answer_rows]) if answer_rows else None
        answer_of = {i: row for row, i in enumerate(answer_rows)}
        now = self.clock()
        rows = []
        for i, (record, request, text) in enumerate(prepared):
            features = output_sample(record)
            row: dict[str, Any] = {
                "record_id": record["id"],
                "created_at": record["created_at"],
                "sampled_at": now,
                "model": record["model"],
                "route": record["endpoint"],
                "embedder": _label(self.embedder),
                "dim": int(prompts.shape[1]),
                "prompt_vector": np.ascontiguousarray(prompts[i], dtype="<f4").tobytes(),
                "response_vector": (
                    np.ascontiguousarray(answer_vectors[answer_of[i]], dtype="<f4").tobytes()
                    if answer_vectors is not None and i in answer_of
                    else None
                ),
                "prompt_excerpt": text[:EXCERPT_CHARS],
                "response_chars": features.response_chars,
                "refused": features.refused,
                "finish_reason": features.finish_reason,
                "tool_call": features.tool_call,
                "error": features.error,
                "latency_ms": features.latency_ms,
                "prompt_tokens": features.prompt_tokens,
                "completion_tokens": features.completion_tokens,
            }
            if self.settings.rag.enabled and not features.error:
                row.update(self._rag(record, request))
                result.rag_scored += "groundedness" in row
                if self.tracing is not None:
                    self._export_rag(row)
            rows.append(row)
        self._store_samples(rows, result)
        return {(row["model"], row["route"]) for row in rows}

    def _store_samples(self, rows: list[dict[str, Any]], result: PassResult) -> None:
        """Store the samples; if the store refuses their retrieval scores, without them (counted)."""
        try:
            result.sampled += queries.insert_samples(self.engine, rows)
        except Exception as exc:
            if not any(name in row for row in rows for name in _RAG_COLUMNS):
                raise
            result.errors.append(f"storing retrieval-quality scores: {describe(exc)}")
            log.warning("monitor pass: %s", result.errors[-1])
            result.rag_scored -= sum("groundedness" in row for row in rows)
            plain = [{k: v for k, v in row.items() if k not in _RAG_COLUMNS} for row in rows]
            result.sampled += queries.insert_samples(self.engine, plain)

    def _rag(self, record: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
        metadata = _loads(record["metadata_json"])
        header = metadata.pop(HEADER_KEY, None)
        example = extract_rag(
            request,
            response_text=record["response_text"],
            metadata=metadata,
            header_context=header if isinstance(header, str) else None,
            sources=self._sources,
        )
        if example is None:
            return {}
        try:
            scores = score_rag(example, embedder=self.embedder)
        except Exception as exc:  # one odd request must not stop the pass
            log.warning(
                "retrieval-quality scoring failed for record %s: %s", record["id"], type(exc).__name__
            )
            return {}
        extra = {
            "per_passage": list(scores.per_passage),
            "unsupported": list(scores.unsupported)[:20],
            "source": example.source,
            "passages": len(example.passages),
        }
        return {
            "context_relevance": scores.context_relevance,
            "groundedness": scores.groundedness,
            "answer_relevance": scores.answer_relevance,
            "rag_json": json.dumps(extra),
        }

    # --- housekeeping --------------------------------------------------------------------------

    def _held_groups(self) -> set[tuple[str, str]]:
        """Models and routes with an open condition: evaluated every pass, so that a time window
        that empties or clears resolves them even without new traffic."""
        return {(c["model"], c["route"]) for c in queries.conditions(self.engine, active=True)}

    def _forget_old(self) -> None:
        horizon = self.clock() - timedelta(seconds=self.settings.lookback_s + self.settings.settle_s + 60)
        self._decided = {k: v for k, v in self._decided.items() if v >= horizon}
        days = self.settings.retention_days
        if days is not None:
            queries.delete_samples_before(self.engine, self.clock() - timedelta(days=days))


def _loads(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _label(embedder: TextEmbedder) -> str:
    return str(getattr(embedder, "model_name", None) or type(embedder).__name__)[:200]
