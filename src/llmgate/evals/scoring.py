"""Scoring a run's answers in batches, in a worker thread, while the model calls go on.

The runner hands each batchable assertion of an answer (``assertions.batchable``: ``grounded``) to
a ``BatchScorer`` as soon as the answer arrives and goes on with the next model calls. The scorer
takes every item waiting (up to ``max_batch``, one assertion type at a time) and scores them with
one ``evaluate_batch`` call (for ``grounded``: one embedder call for all their claims and context
units) in its one worker thread; the answers that arrive meanwhile make the next batch, so the
busier the scorer, the bigger its batches. Each outcome is the one ``evaluate`` gives that answer
alone (the evals' embedder is batch invariant). Other assertion types are not its business: the
runner evaluates them per answer.

Only the worker thread scores, so the embedder is never asked by two threads at once; the event
loop that owns the scorer only queues items and hands out results. ``score`` is what scores a
batch: ``evaluate_batch`` in this process by default, or a ``ScorerProcess``'s ``score``
(``scorer_process.py``: the same outcomes, computed in a child process on the other core).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from llmgate.evals.assertions import AssertionSpec, Check, Outcome, evaluate_batch

__all__ = ["MAX_BATCH", "BatchScorer", "ScoreBatch"]

#: Answers scored together at most: bounds one embedder call (it cuts its own forward passes).
#: Big batches pay: the batch-invariant embedder runs one forward pass per length in word pieces,
#: and the more texts a batch has, the more of them share a length (HaluEval QA, 2 cores: 126
#: answers/s in batches of 128, 176 in one batch of 750).
MAX_BATCH = 512

_Item = tuple[AssertionSpec, Check, asyncio.Future[Outcome]]
#: ``score(items)``: the outcomes of a batch of one assertion type, in order (synchronous).
ScoreBatch = Callable[[Sequence[tuple[AssertionSpec, Check]]], list[Outcome]]


class BatchScorer:
    """Scores queued (assertion, answer) items in batches in one worker thread; see the module doc.

    Use it from one event loop; ``close`` when the run is over (items still queued are cancelled).
    ``batch_sizes`` lists the size of every batch scored, in order.
    """

    def __init__(self, max_batch: int = MAX_BATCH, score: ScoreBatch = evaluate_batch) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.max_batch = max_batch
        self._score = score
        self.batch_sizes: list[int] = []
        self._queue: list[_Item] = []
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="eval-scorer")
        self._drain: asyncio.Task[None] | None = None

    def submit(self, spec: AssertionSpec, check: Check) -> asyncio.Future[Outcome]:
        """Queue ``spec`` on ``check``'s answer; the future resolves to its ``Outcome``."""
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._queue.append((spec, check, future))
        if self._drain is None or self._drain.done():
            self._drain = asyncio.create_task(self._score_queued(), name="eval-scorer")
        return future

    async def _score_queued(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queue:
            kind = self._queue[0][0].type
            batch = [item for item in self._queue if item[0].type == kind][: self.max_batch]
            taken = {id(item) for item in batch}
            self._queue = [item for item in self._queue if id(item) not in taken]
            self.batch_sizes.append(len(batch))
            try:
                outcomes = await loop.run_in_executor(
                    self._worker, self._score, [(spec, check) for spec, check, _ in batch]
                )
            except asyncio.CancelledError:
                for _, _, future in batch:
                    future.cancel()
                raise
            except Exception as exc:  # not a scorer's error: evaluate_batch makes those outcomes
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, _, future), outcome in zip(batch, outcomes, strict=True):
                if not future.done():
                    future.set_result(outcome)

    async def close(self) -> None:
        """Stop: cancel what is queued, wait for a batch being scored, release the worker thread."""
        for _, _, future in self._queue:
            future.cancel()
        self._queue.clear()
        if self._drain is not None and not self._drain.done():
            self._drain.cancel()
            await asyncio.gather(self._drain, return_exceptions=True)
        await asyncio.to_thread(self._worker.shutdown, wait=True)
