"""Error rates and traffic to decision of the canary gates (``llmgate.canary``), on simulated traffic.

    python benchmarks/canary_decisions.py                 # 1,000 trials per scenario, print the table
    python benchmarks/canary_decisions.py --write         # and replace the section in RESULTS.md
    python benchmarks/canary_decisions.py --trials 200    # quicker

Each trial is one canary with ``--steps 10,50,100``, the default gates, alpha 0.05 and
``min_step_requests`` 100, run by the real code: ``CanaryEvidence`` takes the calls,
``evaluate_gates`` and ``decide`` run every ``EVAL_EVERY`` requests to the model group (the
controller's one-second tick at a few hundred requests a second), a promotion moves the candidate
to the next step (its share of the group's traffic), and the trial ends at a rollback, at the
promotion to 100%, or at the horizon.

The traffic (``Arm``): every call fails or is retried with probability 1% (half of those fail
outright), latency lognormal (median 800 ms, sigma 0.5) of which half are streamed with a
lognormal time to first token (median 300 ms, sigma 0.5), cost lognormal (median $0.002, sigma 0.6),
answer length lognormal (median 600 characters, sigma 0.6), 2% refusals, 1% answers cut short;
every call is a RAG call scored by the monitors (sample rate 1.0: the issue's "monitors sampling
all RAG traffic") with groundedness ~ Beta(4, 1) (mean 0.8), context relevance ~ Beta(6, 2),
answer relevance ~ Beta(9, 1). There are no answer embeddings (the drift test lives in the
monitors): ``response_drift`` says ``no_data``. Calls are independent (sticky assignment by user
changes nothing when users are alike).

Scenarios: ``identical`` (A/A), ``errors +5pp``, ``groundedness -0.10`` (Beta(2.8, 1.2), mean 0.7),
``errors 40%``, ``ungrounded`` (Beta(1, 4), mean 0.2), ``slower`` (latency and time to first
token x 1.5); ``identical, 20% sampled`` (the monitors scoring one call in five); and ``errors +2pp
(at the tolerance)``, which should neither be promoted (the promotion side's error, at most alpha)
nor, mostly, rolled back (horizon 30,000).
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from llmgate.canary.decide import decide
from llmgate.canary.evidence import CallBatch, CanaryEvidence, QualityBatch
from llmgate.canary.gates import evaluate_gates
from llmgate.config.canary_settings import DEFAULT_GATES

TITLE = "## Issue 19: canary decisions"
STEPS = (10.0, 50.0, 100.0)
ALPHA = 0.05
MIN_STEP_REQUESTS = 100
#: Group requests between two evaluations.
EVAL_EVERY = 200


@dataclass(frozen=True)
class Arm:
    """How one arm's calls are distributed (see the module's docstring)."""

    error_rate: float = 0.01
    hard_error_share: float = 0.5
    latency_median_ms: float = 800.0
    latency_sigma: float = 0.5
    stream_share: float = 0.5
    ttft_median_ms: float = 300.0
    ttft_sigma: float = 0.5
    cost_median: float = 0.002
    cost_sigma: float = 0.6
    chars_median: float = 600.0
    chars_sigma: float = 0.6
    refusal_rate: float = 0.02
    bad_finish_rate: float = 0.01
    groundedness: tuple[float, float] = (4.0, 1.0)
    context_relevance: tuple[float, float] = (6.0, 2.0)
    answer_relevance: tuple[float, float] = (9.0, 1.0)
    sample_rate: float = 1.0

    def calls(self, rng: np.random.Generator, n: int) -> CallBatch:
        error = rng.random(n) < self.error_rate
        ok = ~(error & (rng.random(n) < self.hard_error_share))
        streamed = rng.random(n) < self.stream_share
        ttft = self.ttft_median_ms * np.exp(self.ttft_sigma * rng.standard_normal(n))
        ttft[~streamed] = np.nan
        return CallBatch(
            error=error,
            ok=ok,
            latency_ms=self.latency_median_ms * np.exp(self.latency_sigma * rng.standard_normal(n)),
            ttft_ms=ttft,
            cost_usd=self.cost_median * np.exp(self.cost_sigma * rng.standard_normal(n)),
            response_chars=np.round(self.chars_median * np.exp(self.chars_sigma * rng.standard_normal(n))),
            refusal=rng.random(n) < self.refusal_rate,
            bad_finish=rng.random(n) < self.bad_finish_rate,
        )

    def quality(self, rng: np.random.Generator, n: int) -> QualityBatch:
        """Monitor scores for ``n`` calls (all of them: ``Feed`` leaves out the unsampled ones)."""
        return QualityBatch(
            groundedness=rng.beta(*self.groundedness, size=n),
            context_relevance=rng.beta(*self.context_relevance, size=n),
            answer_relevance=rng.beta(*self.answer_relevance, size=n),
        )


_CALL_COLUMNS = (
    "error",
    "ok",
    "latency_ms",
    "ttft_ms",
    "cost_usd",
    "response_chars",
    "refusal",
    "bad_finish",
)
_SCORE_COLUMNS = ("groundedness", "context_relevance", "answer_relevance")


class Feed:
    """One arm's calls, drawn ``chunk`` at a time (numpy is quick per array, slow per call) and
    handed out in order."""

    def __init__(self, arm: Arm, rng: np.random.Generator, chunk: int = 2048) -> None:
        self.arm, self.rng, self.chunk = arm, rng, chunk
        self._calls: dict[str, np.ndarray] = {}
        self._scores: dict[str, np.ndarray] = {}
        self._at = self._size = 0

    def take(self, n: int) -> tuple[CallBatch, QualityBatch]:
        if self._at + n > self._size:
            size = max(self.chunk, n)
            calls, scores = self.arm.calls(self.rng, size), self.arm.quality(self.rng, size)
            sampled = self.rng.random(size) < self.arm.sample_rate
            self._calls = {
                k: np.concatenate([self._calls[k][self._at :], getattr(calls, k)])
                if self._calls
                else getattr(calls, k)
                for k in _CALL_COLUMNS
            }
            self._scores = {
                k: np.concatenate(
                    [self._scores[k][self._at :], np.where(sampled, getattr(scores, k), np.nan)]
                )
                if self._scores
                else np.where(sampled, getattr(scores, k), np.nan)
                for k in _SCORE_COLUMNS
            }
            self._size, self._at = self._size - self._at + size, 0
        window = slice(self._at, self._at + n)
        self._at += n
        calls = CallBatch(**{k: v[window] for k, v in self._calls.items()})
        scores = {k: v[window] for k, v in self._scores.items()}
        return calls, QualityBatch(**{k: v[~np.isnan(v)] for k, v in scores.items()})


@dataclass(frozen=True)
class Scenario:
    name: str
    candidate: Arm
    stable: Arm = field(default_factory=Arm)
    horizon: int = 60_000  # group requests before a trial gives up


SCENARIOS = (
    Scenario("identical", Arm()),
    Scenario("errors +5pp", Arm(error_rate=0.06)),
    Scenario("groundedness -0.10", Arm(groundedness=(2.8, 1.2))),
    Scenario("errors 40%", Arm(error_rate=0.406)),
    Scenario("ungrounded", Arm(groundedness=(1.0, 4.0))),
    Scenario("slower", Arm(latency_median_ms=1200.0, ttft_median_ms=450.0)),
    Scenario("identical, 20% sampled", Arm(sample_rate=0.2), stable=Arm(sample_rate=0.2)),
    # exactly at the errors gate's tolerance (+2 points): no better than the tolerance, so promoting
    # it is the error the promotion side bounds (at most alpha = 5%)
    Scenario("errors +2pp (at the tolerance)", Arm(error_rate=0.03), horizon=30_000),
)


@dataclass(frozen=True)
class Outcome:
    """One trial: how it ended, and the traffic (to the group, and to the candidate) until then."""

    result: str  # rolled_back | promoted | running
    requests: int
    candidate_requests: int
    past_first_step_at: int | None  # group requests when the first step was promoted
    failing: tuple[str, ...] = ()


def run_trial(
    scenario: Scenario,
    rng: np.random.Generator,
    *,
    steps: Sequence[float] = STEPS,
    gates: Sequence[str] = DEFAULT_GATES,
    alpha: float = ALPHA,
    min_step_requests: int = MIN_STEP_REQUESTS,
    eval_every: int = EVAL_EVERY,
) -> Outcome:
    """One canary from its first step to a rollback, the last promotion or the horizon."""
    evidence = CanaryEvidence()
    feeds = {"candidate": Feed(scenario.candidate, rng), "stable": Feed(scenario.stable, rng)}
    step = 0
    requests = candidate_requests = 0
    past_first: int | None = None
    while requests < scenario.horizon:
        to_candidate = int(rng.binomial(eval_every, steps[step] / 100.0))
        for arm, n in (("candidate", to_candidate), ("stable", eval_every - to_candidate)):
            if n:
                calls, scores = feeds[arm].take(n)
                evidence.add_calls(arm, calls)
                evidence.arm(arm).add_quality(scores)
        requests += eval_every
        candidate_requests += to_candidate
        decision = decide(
            evaluate_gates(evidence, gates, alpha=alpha), evidence.step_requests, min_step_requests
        )
        if decision.action == "rollback":
            return Outcome("rolled_back", requests, candidate_requests, past_first, decision.failing)
        if decision.action == "promote":
            if past_first is None:
                past_first = requests
            step += 1
            if step == len(steps) - 1:
                return Outcome("promoted", requests, candidate_requests, past_first)
            evidence.start_step()
    return Outcome("running", requests, candidate_requests, past_first)


def run(scenario: Scenario, trials: int, seed: int = 19, **options: int) -> list[Outcome]:
    rng = np.random.default_rng([seed, sum(map(ord, scenario.name))])
    return [run_trial(scenario, rng, **options) for _ in range(trials)]  # type: ignore[arg-type]


@dataclass(frozen=True)
class Summary:
    scenario: str
    trials: int
    rolled_back: float
    promoted_past_first: float
    median_to_rollback: float | None
    p95_to_rollback: float | None
    median_candidate_to_rollback: float | None
    p95_candidate_to_rollback: float | None
    median_to_first_promotion: float | None
    p95_to_first_promotion: float | None
    past_first_within_20000: float = 0.0  # share of all trials promoted past 10% within 20,000 requests
    failing: dict[str, int] = field(default_factory=dict)


def summarise(name: str, outcomes: Sequence[Outcome]) -> Summary:
    back = [o for o in outcomes if o.result == "rolled_back"]
    promoted = [o.past_first_step_at for o in outcomes if o.past_first_step_at is not None]

    def q(values: Sequence[float], p: float) -> float | None:
        return float(np.percentile(values, p)) if values else None

    failing: dict[str, int] = {}
    for o in back:
        for gate in o.failing:
            failing[gate] = failing.get(gate, 0) + 1
    return Summary(
        scenario=name,
        trials=len(outcomes),
        rolled_back=len(back) / len(outcomes),
        promoted_past_first=len(promoted) / len(outcomes),
        median_to_rollback=q([o.requests for o in back], 50),
        p95_to_rollback=q([o.requests for o in back], 95),
        median_candidate_to_rollback=q([o.candidate_requests for o in back], 50),
        p95_candidate_to_rollback=q([o.candidate_requests for o in back], 95),
        median_to_first_promotion=q(promoted, 50),
        p95_to_first_promotion=q(promoted, 95),
        past_first_within_20000=sum(at <= 20_000 for at in promoted) / len(outcomes),
        failing=failing,
    )


def _n(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def table(summaries: Sequence[Summary]) -> str:
    lines = [
        "| scenario | trials | rolled back | promoted past 10% | requests to the group before rollback, median / p95 "
        "| candidate requests before rollback, median / p95 | requests to pass 10%, median / p95 | failing gates |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for s in summaries:
        gates = ", ".join(f"{g} {n}" for g, n in sorted(s.failing.items(), key=lambda kv: -kv[1])) or "-"
        lines.append(
            f"| {s.scenario} | {s.trials:,} | {s.rolled_back:.1%} | {s.promoted_past_first:.1%} "
            f"| {_n(s.median_to_rollback)} / {_n(s.p95_to_rollback)} "
            f"| {_n(s.median_candidate_to_rollback)} / {_n(s.p95_candidate_to_rollback)} "
            f"| {_n(s.median_to_first_promotion)} / {_n(s.p95_to_first_promotion)} | {gates} |"
        )
    return "\n".join(lines)


def section(summaries: Sequence[Summary], trials: int, seconds: float) -> str:
    by_name = {s.scenario: s for s in summaries}
    aa = by_name["identical"]
    return f"""{TITLE}

`python benchmarks/canary_decisions.py --write` ({datetime.now(UTC):%Y-%m-%d}, {platform.python_implementation()}
{platform.python_version()}, {seconds:.0f} s). {trials:,} simulated canaries per scenario, each run by
`llmgate.canary` itself (`CanaryEvidence`, `evaluate_gates`, `decide`) with `--steps 10,50,100`, the
default gates, alpha 0.05, `min_step_requests` 100, an evaluation every {EVAL_EVERY} requests to the
group, and a horizon of 60,000 requests to the group (30,000 for the last row). Traffic: 1% of calls
failed or retried, lognormal latency (median 800 ms), half of the calls streamed (time to first token
median 300 ms), lognormal cost and answer length, 2% refusals, 1% cut short, every call a RAG call
scored by the monitors (groundedness ~ Beta(4, 1)); no answer embeddings (`response_drift` has no
data). Scenario details in the script's docstring.

{table(summaries)}

- False rollbacks (A/A, "identical"): {aa.rolled_back:.1%} of {aa.trials:,}; the budget is alpha = 5%,
  split over the 10 gates with data (each gate's lower bound one-sided at 0.5%). Ville's inequality
  and the split are conservative, so the measured rate sits far under the budget.
- False promotions: a promotion needs every gate's upper bound below its tolerance, each one-sided at
  alpha (no split: an intersection-union test), so a candidate no better than a tolerance is
  promoted with probability at most 5% (the last row's "promoted past 10%").
- Power: "rolled back" of each bad candidate (the rest would be still running at the horizon, or
  promoted past 10% first: the next column).
- Traffic to decision: requests to the whole model group (the candidate takes 10% of them at the
  first step) and to the candidate, until the rollback; for the identical candidate, until it is
  promoted past 10%. Evaluations every {EVAL_EVERY} requests set the resolution: "ungrounded" is
  rolled back at the first evaluation where both arms have 30 scored answers.
- Targets of issue 19: false rollbacks <= 5%; +5 points of errors and -0.10 groundedness rolled back
  in >= 95% of trials; 40% of calls failing rolled back within 5,000 requests to the group; ungrounded
  RAG answers within 8,000; an identical candidate past 10% within 20,000. All but the last hold with
  a wide margin. The identical candidate passes 10% after a median of
  {_n(aa.median_to_first_promotion)} requests, {aa.past_first_within_20000:.1%} of them within 20,000:
  with half the calls streamed, the time-to-first-token gate needs ~500 streamed candidate calls to
  show that fewer than 5% of them are over 1.2 x stable's p95 (about 2% are), and the 2% refusal rate
  is almost as slow against its 2-point tolerance.
"""


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--write", action="store_true", help="replace the section in benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    summaries = []
    for scenario in SCENARIOS:
        t0 = time.perf_counter()
        summary = summarise(scenario.name, run(scenario, args.trials))
        summaries.append(summary)
        print(f"{scenario.name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    text = section(summaries, args.trials, time.perf_counter() - started)
    print(text)
    if args.write:
        from _common import write_section  # a sibling script's helper: imported only to write

        write_section(text, TITLE)


if __name__ == "__main__":
    main()
