"""How fast the one embedder embeds short prompts on this machine, and how well context relevance works.

    python benchmarks/embedder_throughput.py            # print the results
    python benchmarks/embedder_throughput.py --write    # and replace the section in RESULTS.md

Throughput: embeddings per second of short prompts, as the monitors see them: the 250 QA
``question``s and the first ``--general`` general-assistant ``user_query``s, each cut to 200
characters, for batch sizes 32/64/128, torch threads 1 and 2, and both precisions of
``Embedder``: float32 (the default) and bfloat16 autocast (where the CPU computes it natively,
which is what ``precision="auto"`` picks there). Every pass starts with an empty cache (a cold cache: each text
is embedded), after a warm-up for the setting; the median of 3 passes is reported. The
process's peak RSS is read from ``getrusage`` at the end (the model is loaded once per
precision, and both stay loaded).

Context relevance (``quality/context_relevance.py``): AUROC of each QA question with its own
knowledge against the question with another row's knowledge (random), and against the most
similar other row's knowledge by plain cosine (the hard negative; some rows share a topic or a
paragraph, so 1.0 is out of reach), for the scorer and for plain question-to-knowledge cosine.

Retrieval-quality window means (``monitors/rag_quality.py``): the means of the three scores
over healthy QA traffic and traffic failing each metric, from which the default thresholds of
``RagThresholds`` were read (``--no-rag`` skips this part).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import resource
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from statistics import mean, median
from typing import Any

from _common import load_jsonl, shared_data_dir, write_section
from quality_scorers import auroc

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
SECTION = "## Embedder throughput"
TARGET_PER_S = 300.0
MAX_CHARS = 200
BATCH_SIZES = (32, 64, 128)
THREADS = (1, 2)


# --- throughput -------------------------------------------------------------------------------


def throughput(
    embedder: Any, texts: list[str], batch_size: int, threads: int, passes: int = 3
) -> list[float]:
    import torch

    torch.set_num_threads(threads)
    embedder.batch_size = batch_size
    embedder.clear_cache()
    embedder.encode([f"warm-up text {i} for this setting" for i in range(batch_size)])
    rates = []
    for _ in range(passes):
        embedder.clear_cache()  # cold: every text is embedded
        start = time.perf_counter()
        embedder.encode(texts)
        rates.append(len(texts) / (time.perf_counter() - start))
    return rates


# --- context relevance ------------------------------------------------------------------------


def context_auroc(qa: list[dict[str, Any]], embedder: Any) -> dict[str, float]:
    import numpy as np

    from llmgate.quality.context_relevance import context_relevance

    n = len(qa)
    rng = random.Random(7)
    other = [(i + 1 + rng.randrange(n - 1)) % n for i in range(n)]
    questions = embedder.encode([r["question"] for r in qa])
    knowledge = embedder.encode([r["knowledge"] for r in qa])
    cosine = questions @ knowledge.T
    own_cos = np.diag(cosine).copy()
    np.fill_diagonal(cosine, -2.0)
    hardest = cosine.argmax(axis=1)

    def score(i: int, j: int) -> float:
        return context_relevance(qa[i]["question"], [qa[j]["knowledge"]], embedder=embedder).score

    start = time.perf_counter()
    own = [score(i, i) for i in range(n)]
    seconds = (time.perf_counter() - start) / n
    random_other = [score(i, other[i]) for i in range(n)]
    hard = [score(i, int(hardest[i])) for i in range(n)]
    return {
        "rows": n,
        "vs_other": auroc(own, random_other),
        "vs_hardest": auroc(own, hard),
        "cosine_vs_other": auroc(
            own_cos.tolist(), [float(questions[i] @ knowledge[other[i]]) for i in range(n)]
        ),
        "cosine_vs_hardest": auroc(own_cos.tolist(), [float(cosine[i, hardest[i]]) for i in range(n)]),
        "own_mean": mean(own),
        "other_mean": mean(random_other),
        "hardest_mean": mean(hard),
        "ms_per_case": 1000 * seconds,
    }


# --- retrieval-quality window means -----------------------------------------------------------


def window_means(
    qa: list[dict[str, Any]], general: list[dict[str, Any]], embedder: Any
) -> dict[str, dict[str, float]]:
    from llmgate.monitors.rag_quality import RagExample, score_rag
    from llmgate.quality.relevance import answer_relevance

    n = len(qa)
    rng = random.Random(5)
    other = [(i + 1 + rng.randrange(n - 1)) % n for i in range(n)]
    kinds = {
        "healthy (own knowledge, right answer)": lambda i: (qa[i]["knowledge"], qa[i]["right_answer"]),
        "another row's knowledge": lambda i: (qa[other[i]]["knowledge"], qa[i]["right_answer"]),
        "hallucinated answer": lambda i: (qa[i]["knowledge"], qa[i]["hallucinated_answers"][0]),
        "another question's answer": lambda i: (qa[i]["knowledge"], qa[other[i]]["right_answer"]),
    }
    out: dict[str, dict[str, float]] = {}
    for name, make in kinds.items():
        scores = []
        for i in range(n):
            passage, answer = make(i)
            example = RagExample(qa[i]["question"], (passage,), answer, "benchmark")
            scores.append(score_rag(example, embedder=embedder))
        out[f"QA: {name}"] = {
            metric: mean(getattr(s, metric) for s in scores)
            for metric in ("context_relevance", "groundedness", "answer_relevance")
        }
    m = len(general)
    rng = random.Random(11)
    shuffled = [(i + 1 + rng.randrange(m - 1)) % m for i in range(m)]
    own = [answer_relevance(r["user_query"], r["response"], embedder=embedder).score for r in general]
    off = [
        answer_relevance(r["user_query"], general[shuffled[i]]["response"], embedder=embedder).score
        for i, r in enumerate(general)
    ]
    out["general: own response"] = {"answer_relevance": mean(own)}
    out["general: another query's response"] = {"answer_relevance": mean(off)}
    return out


# --- report -----------------------------------------------------------------------------------


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident set size of this process in MiB."""
    current = 0.0
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    current = int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return current, peak


def render(results: dict[str, Any]) -> str:
    lines = [
        SECTION,
        "",
        f"Run {results['when']} with `python benchmarks/embedder_throughput.py --write`. Machine: {results['machine']};"
        f" CPU torch {results['torch']}; native bfloat16: {results['native_bf16']}.",
        f"Load average (1 min) {results['load_start']:.2f} at the start and {results['load_end']:.2f} at the end:"
        " other sessions share the machine's cores, so these are lower bounds.",
        "",
        f"Embeddings per second of {results['n_texts']} short prompts ({results['n_qa']} QA questions and"
        f" {results['n_general']} general-assistant queries, cut to {MAX_CHARS} characters, {results['tokens']:.0f} word"
        f" pieces on average), all-MiniLM-L6-v2 through `Embedder`, cold cache (emptied before every pass), median of 3"
        f" passes (min to max in brackets); goal ≥ {TARGET_PER_S:.0f}/s:",
        "",
        "| precision | torch threads | batch 32 | batch 64 | batch 128 |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for precision, by_threads in results["throughput"].items():
        for threads, by_batch in by_threads.items():
            cells = [f"{median(r):.0f} ({min(r):.0f} to {max(r):.0f})" for r in by_batch.values()]
            lines.append(f"| {precision} | {threads} | {' | '.join(cells)} |")
    best = results["best"]
    lines += [
        "",
        f"Best: {best['rate']:.0f}/s ({best['precision']}, {best['threads']} thread(s), batch {best['batch']}):"
        f" goal {'met' if best['rate'] >= TARGET_PER_S else 'NOT met'}. The default precision is float32"
        " (deterministic: a vector does not depend on the texts batched with it), as the evals use;"
        f' `precision="auto"` runs {results["auto"]} here, for the monitors. The vectors of the two precisions'
        f" agree to a cosine of at least {results['fidelity']:.5f} on these prompts.",
        f"Memory: RSS {results['rss_loaded']:.0f} MiB with the model loaded (torch, tokenizer, weights), peak RSS of the"
        f" process {results['rss_peak']:.0f} MiB at the end (two model instances, one per precision, plus the scoring"
        " below). The vector cache adds about 4·dimension + 250 bytes per entry: 2,048 entries of 384 dimensions are"
        " about 3.5 MiB.",
    ]
    c = results.get("context")
    if c:
        lines += [
            "",
            f"`context_relevance` on `halueval_qa_dev.jsonl` ({c['rows']} rows), AUROC of a question with its own knowledge"
            f" against: another row's knowledge **{c['vs_other']:.4f}** (plain cosine {c['cosine_vs_other']:.4f}; floor"
            f" 0.99); the most similar other row's knowledge by cosine **{c['vs_hardest']:.4f}** (plain cosine"
            f" {c['cosine_vs_hardest']:.4f}). Mean score: own {c['own_mean']:.3f}, another row's {c['other_mean']:.3f},"
            f" most similar other {c['hardest_mean']:.3f}; {c['ms_per_case']:.0f} ms per case with a cold cache.",
        ]
    w = results.get("windows")
    if w:
        lines += [
            "",
            "Retrieval-quality window means (`score_rag`), from which the default `RagThresholds` were read"
            f" (context relevance {results['thresholds']['context_relevance']}, groundedness"
            f" {results['thresholds']['groundedness']}, answer relevance {results['thresholds']['answer_relevance']}):",
            "",
            "| traffic | context relevance | groundedness | answer relevance |",
            "| --- | ---: | ---: | ---: |",
        ]
        for name, values in w.items():
            cells = [
                f"{values[m]:.3f}" if m in values else "-"
                for m in ("context_relevance", "groundedness", "answer_relevance")
            ]
            lines.append(f"| {name} | {' | '.join(cells)} |")
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--general", type=int, default=262, help="general-assistant queries to add (max 2000)"
    )
    parser.add_argument("--no-rag", action="store_true", help="skip the retrieval-quality window means")
    parser.add_argument("--write", action="store_true", help="replace the section in benchmarks/RESULTS.md")
    args = parser.parse_args(argv)

    data = shared_data_dir()
    if data is None:
        print("shared data not found (set LLMGATE_SHARED_DATA)", file=sys.stderr)
        return 2
    qa = load_jsonl(data / "halueval_qa_dev.jsonl")
    general_all = load_jsonl(data / "halueval_general_dev.jsonl")
    general = general_all[: args.general]
    texts = [r["question"][:MAX_CHARS] for r in qa] + [r["user_query"][:MAX_CHARS] for r in general]

    import numpy as np
    import torch

    from llmgate.quality.embedder import Embedder

    results: dict[str, Any] = {
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "torch": torch.__version__,
        "load_start": os.getloadavg()[0],
        "n_texts": len(texts),
        "n_qa": len(qa),
        "n_general": len(general),
        "throughput": {},
    }
    exact = Embedder(precision="float32", cache_size=4096)  # the default
    exact.load()
    results["rss_loaded"] = rss_mb()[0]
    tokenizer = exact._model.tokenizer
    results["tokens"] = mean(len(tokenizer(t)["input_ids"]) for t in texts)
    embedders = {"float32": exact}
    auto = Embedder(precision="auto", cache_size=4096)
    results["auto"] = auto.compute_precision
    results["native_bf16"] = "yes" if results["auto"] == "bfloat16" else "no"
    if results["auto"] == "bfloat16":
        embedders["bfloat16"] = auto
    else:
        del auto

    best = {"rate": 0.0}
    for precision, embedder in embedders.items():
        results["throughput"][precision] = {}
        for threads in THREADS:
            row = {}
            for batch in BATCH_SIZES:
                rates = throughput(embedder, texts, batch, threads)
                row[batch] = rates
                print(
                    f"{precision:9s} threads {threads} batch {batch:3d}: {median(rates):6.0f}/s  {rates}",
                    flush=True,
                )
                if median(rates) > best["rate"]:
                    best = {"rate": median(rates), "precision": precision, "threads": threads, "batch": batch}
            results["throughput"][precision][threads] = row
    results["best"] = best
    if "bfloat16" in embedders:
        torch.set_num_threads(2)
        a = embedders["float32"].encode(texts)
        b = embedders["bfloat16"].encode(texts)
        results["fidelity"] = float(np.min(np.einsum("ij,ij->i", a, b)))
    else:
        results["fidelity"] = 1.0

    scorer = exact
    scorer.batch_size = 64
    torch.set_num_threads(best.get("threads", 1))
    scorer.clear_cache()
    results["context"] = context_auroc(qa, scorer)
    print(
        "context relevance AUROC: vs other {vs_other:.4f} (cosine {cosine_vs_other:.4f}), vs hardest"
        " {vs_hardest:.4f} (cosine {cosine_vs_hardest:.4f})".format(**results["context"]),
        flush=True,
    )
    if not args.no_rag:
        from llmgate.monitors.rag_quality import RagThresholds

        sample = random.Random(1).sample(general_all, 300)
        results["windows"] = window_means(qa, sample, scorer)
        results["thresholds"] = RagThresholds().__dict__
    results["rss_peak"] = rss_mb()[1]
    results["load_end"] = os.getloadavg()[0]

    text = render(results)
    print()
    print(text)
    if args.write:
        write_section(text, SECTION)
        print(f"wrote the {SECTION!r} section of {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
