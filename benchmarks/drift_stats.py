"""False alarms, detection and speed of the embedding-drift statistics (``llmgate.monitors.drift``).

    python benchmarks/drift_stats.py            # print the section
    python benchmarks/drift_stats.py --write    # and replace "## Drift statistics" in RESULTS.md

Data: the 250 questions of ``halueval_qa_dev.jsonl`` and the 2000 user queries of
``halueval_general_dev.jsonl`` (``LLMGATE_SHARED_DATA``, else ``<project>/../shared/data``, else
``/work/shared/data``), embedded once with the default embedder (all-MiniLM-L6-v2).

- No change: two random halves of the QA questions (125 / 125), 20 splits; also random windows
  of the general queries (125 / 125 and 500 / 500, 20 each), a data set the defaults were not
  set on. A split "alarms" when any of the five statistics says drifted.
- Full switch: 125 QA questions against 125 general queries, 20 trials.
- 20% mix: 125 QA questions against 100 other QA questions plus 25 general queries, 20 trials;
  and 10% on the other data set: 400 general queries against 360 others plus 40 QA questions.
- File order: the first 1000 general queries against the last 1000 (the file is not shuffled:
  its halves differ, e.g. 24% against 11% of the responses are labelled hallucinated).
- Speed: ``embedding_drift`` on 125 / 125 and 1000 / 1000 rows of 384 dimensions, warm,
  median of 3, default settings (500 permutations).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from statistics import median
from typing import Any

from _common import load_jsonl, shared_data_dir, write_section

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
SECTION = "## Drift statistics"
NAMES = ("centroid_shift", "mmd", "psi", "domain_classifier", "ood_rate")
TRIALS = 20


def run_trials(make: Callable[[int], tuple[Any, Any]], drift: Callable[..., Any]) -> dict[str, Any]:
    """Run ``TRIALS`` comparisons; count, per statistic and for any, how often it said drifted."""
    results = []
    for seed in range(TRIALS):
        reference, current = make(seed)
        results.append(drift(reference, current, seed=seed))
    out: dict[str, Any] = {"any": sum(r.drifted for r in results), "trials": len(results)}
    for name in NAMES:
        stats = [r.statistic(name) for r in results]
        effects = [s.details["excess"] if name in ("centroid_shift", "psi") else s.value for s in stats]
        out[name] = {
            "flagged": sum(s.drifted for s in stats),
            "median_value": median(s.value for s in stats),
            "min_effect": min(effects),
            "max_effect": max(effects),
            "min_p": min(s.p_value for s in stats),
            "max_p": max(s.p_value for s in stats),
            "threshold": stats[0].threshold,
        }
    return out


def render(r: dict[str, Any]) -> str:
    t = r["thresholds"]
    lines = [
        SECTION,
        "",
        f"Run {r['when']} with `python benchmarks/drift_stats.py --write`. Machine: {r['machine']};"
        f" load average (1 min) {r['load_start']:.2f} at the start, {r['load_end']:.2f} at the end.",
        "Prompts embedded with all-MiniLM-L6-v2: the 250 questions of `halueval_qa_dev.jsonl` (QA) and the 2000"
        " user queries of `halueval_general_dev.jsonl` (general). Defaults: significance"
        f" p < {t['p_value']} (MMD p < {t['mmd_p_value']}), and floors centroid shift beyond chance ≥"
        f" {t['centroid_shift']}, PSI beyond chance ≥ {t['psi']}, domain-classifier AUC > {t['domain_auc']},"
        f" OOD rate > {t['ood_rate']}; 500 permutations. A statistic is drifted when its test is significant and"
        " its effect reaches the floor (see `llmgate/monitors/drift.py`).",
        "",
        f"Times a statistic said drifted, out of {TRIALS} trials (seeds 0-{TRIALS - 1}):",
        "",
        "| case | any | centroid shift | MMD | PSI | domain classifier | OOD rate |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, key in CASES:
        c = r[key]
        cells = " | ".join(str(c[name]["flagged"]) for name in NAMES)
        lines.append(f"| {label} | {c['any']} | {cells} |")
    lines += [
        "",
        "No change, QA halves (125 / 125): the worst of the 20 splits against each decision (effect: the"
        " centroid shift and PSI beyond their permutation-null mean, the AUC, the OOD rate):",
        "",
        "| statistic | largest effect | floor | smallest p | significance |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    null = r["null_qa"]
    for name in NAMES:
        s = null[name]
        significance = t["mmd_p_value"] if name == "mmd" else t["p_value"]
        floor = "-" if name == "mmd" else f"{s['threshold']:g}"
        lines.append(f"| {name} | {s['max_effect']:.4f} | {floor} | {s['min_p']:.3f} | {significance:g} |")
    lines += [
        "",
        "Detection, the weakest of the 20 trials (largest p, smallest effect):",
        "",
        "| case | statistic | median value | smallest effect | largest p |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for label, key in CASES[3:]:
        for name in NAMES:
            s = r[key][name]
            lines.append(
                f"| {label} | {name} | {s['median_value']:.4f} | {s['min_effect']:.4f} | {s['max_p']:.3f} |"
            )
    order = r["file_order"]
    flagged = ", ".join(s["name"] for s in order["statistics"] if s["drifted"]) or "none"
    lines += [
        "",
        f"File order, general rows 0-999 against 1000-1999 (the file is not shuffled: 24% against 11% of"
        f" their responses are labelled hallucinated): drifted: {flagged}. "
        + "; ".join(f"{s['name']} {s['value']:.4f} (p {s['p_value']:.3g})" for s in order["statistics"])
        + ".",
        "",
        f"Speed of `embedding_drift` (warm, median of 3, 384 dimensions, 500 permutations): 125 / 125 rows"
        f" {r['speed']['125']:.2f} s, 1000 / 1000 rows {r['speed']['1000']:.2f} s"
        f" (runs: {', '.join(f'{x:.2f}' for x in r['speed']['1000_runs'])} s).",
        "",
        "A new topic that is a small share of the traffic is the OOD rate's case: its effect grows with the"
        " share of new rows, MMD's (and the centroid shift's) with the share squared, so at 125 rows per window"
        " MMD misses some 20% mixes that the OOD rate never misses.",
        "",
    ]
    return "\n".join(lines)


CASES = [
    ("no change: QA halves, 125 / 125", "null_qa"),
    ("no change: general, 125 / 125", "null_general"),
    ("no change: general, 500 / 500", "null_general_500"),
    ("full switch: QA → general, 125 / 125", "switch"),
    ("20% general among QA, 125 / 125", "mix"),
    ("10% QA among general, 400 / 400", "mix_general"),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--write", action="store_true", help="replace the section in benchmarks/RESULTS.md")
    args = parser.parse_args(argv)

    data = shared_data_dir()
    if data is None:
        print("shared data not found (set LLMGATE_SHARED_DATA)", file=sys.stderr)
        return 2
    questions = [row["question"] for row in load_jsonl(data / "halueval_qa_dev.jsonl")]
    queries = [row["user_query"] for row in load_jsonl(data / "halueval_general_dev.jsonl")]

    import numpy as np

    from llmgate.monitors.drift import DriftThresholds, embedding_drift
    from llmgate.quality.embedder import Embedder

    load_start = os.getloadavg()[0]
    embedder = Embedder(cache_size=0)
    qa = embedder.encode(questions)
    general = embedder.encode(queries)

    def halves(n: int, seed: int) -> tuple[Any, Any]:
        order = np.random.default_rng(seed).permutation(n)
        return order[: n // 2], order[n // 2 :]

    def null_qa(seed: int) -> tuple[Any, Any]:
        ref, cur = halves(len(qa), seed)
        return qa[ref], qa[cur]

    def null_general(size: int) -> Callable[[int], tuple[Any, Any]]:
        def make(seed: int) -> tuple[Any, Any]:
            order = np.random.default_rng(1000 + seed).permutation(len(general))
            return general[order[:size]], general[order[size : 2 * size]]

        return make

    def switch(seed: int) -> tuple[Any, Any]:
        ref, _ = halves(len(qa), 100 + seed)
        new = np.random.default_rng(100 + seed).choice(len(general), size=len(ref), replace=False)
        return qa[ref], general[new]

    def mix(seed: int) -> tuple[Any, Any]:
        ref, other = halves(len(qa), 200 + seed)
        new = np.random.default_rng(200 + seed).choice(len(general), size=25, replace=False)
        return qa[ref], np.vstack([qa[other][:100], general[new]])

    def mix_general(seed: int) -> tuple[Any, Any]:
        rng = np.random.default_rng(300 + seed)
        order = rng.permutation(len(general))
        new = rng.choice(len(qa), size=40, replace=False)
        return general[order[:400]], np.vstack([general[order[400:760]], qa[new]])

    embedding_drift(qa[:125], qa[125:])  # warm-up: imports
    results: dict[str, Any] = {
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()},"
        f" numpy {np.__version__}",
        "load_start": load_start,
        "thresholds": asdict(DriftThresholds()),
    }
    makers = {
        "null_qa": null_qa,
        "null_general": null_general(125),
        "null_general_500": null_general(500),
        "switch": switch,
        "mix": mix,
        "mix_general": mix_general,
    }
    for key, make in makers.items():
        started = time.perf_counter()
        results[key] = run_trials(make, embedding_drift)
        print(f"{key}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    results["file_order"] = embedding_drift(general[:1000], general[1000:]).to_json()

    def timed(reference: Any, current: Any) -> float:
        started = time.perf_counter()
        embedding_drift(reference, current)
        return time.perf_counter() - started

    small = [timed(qa[:125], qa[125:]) for _ in range(3)]
    large = [timed(general[:1000], general[1000:]) for _ in range(3)]
    results["speed"] = {"125": median(small), "1000": median(large), "1000_runs": large}
    results["load_end"] = os.getloadavg()[0]

    text = render(results)
    print(text)
    if args.write:
        write_section(text, SECTION)
        print(f"wrote the {SECTION!r} section of {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
