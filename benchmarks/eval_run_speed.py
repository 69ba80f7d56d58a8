"""How fast ``llmgate eval run`` gets through a 750-case ``grounded`` suite, start-up included.

    python benchmarks/eval_run_speed.py                        # 3 runs of this tree
    python benchmarks/eval_run_speed.py --before-src /tmp/before/src --write
    python benchmarks/eval_run_speed.py --concurrency 8 --rounds 5

The suite is built at run time from ``halueval_qa_dev.jsonl`` (found through
``LLMGATE_SHARED_DATA``, else ``<project>/../shared/data``, else ``/work/shared/data``; never copied
into the repository), in a temporary folder: one case per answer of every row (the right answer and
its two hallucinated ones: 750 cases for 250 rows), the row's ``knowledge`` as the case's context,
its question as the ``question`` variable, and the ``grounded`` assertion. The model under test is a
fake OpenAI upstream on loopback (aiohttp, in this process) that answers each case with its
recorded answer, found from the case key in the prompt; the gateway is the one ``eval run
--config`` starts in its own process (recording into a SQLite store in the temporary folder).

Each run is ``llmgate eval run SUITE --config CFG --output json --out FILE`` as a subprocess:

- end to end: the subprocess's wall time, Python start-up, imports, loading the embedding model,
  the in-process gateway, storing the run and writing the report included. Python's bytecode is
  compiled once and kept (``PYTHONPYCACHEPREFIX`` in the temporary folder, one unmeasured warm-up
  run per tree first), as an installed package has it: without it (``PYTHONDONTWRITEBYTECODE``)
  every run compiles the ~2,500 modules it imports, some 4 s more;
- cases/s once loaded: the cases over the run's own ``duration_s`` in the report (from the run's
  start, after the set-up checks have loaded the embedder, to its end).

``--before-src DIR`` runs another source tree too (``DIR`` is put first on ``PYTHONPATH``; make it
with ``git archive <commit> src | tar -x -C /tmp/before``), alternating the two trees round by
round so that both see the same machine, and checks that they scored every case the same (to the
6 decimals of the JSON report). ``--write`` replaces the "## Issue 20: eval run speed" section of
``benchmarks/RESULTS.md`` (the notes under its tables there were written by hand: keep them). The one-minute load average is printed before and after every run: on
a shared machine, figures taken under load are lower bounds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from statistics import median
from typing import Any

import orjson
import yaml
from _common import load_jsonl, shared_data_dir, write_section
from aiohttp import web

BENCH = Path(__file__).resolve().parent
PROJECT = BENCH.parent
SECTION = "## Issue 20: eval run speed"
MODEL = "halueval-reader"
KEY = "sk-bench-eval-0123456789"
_CASE_KEY = re.compile(r"\[case (r\d+-a\d)\]")


# --- the suite --------------------------------------------------------------------------------


def build_suite(rows: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, str]]:
    """The suite (as YAML-ready data) and the recorded answer of each case key."""
    answers: dict[str, str] = {}
    cases = []
    for i, row in enumerate(rows):
        for k, answer in enumerate([row["right_answer"], *row["hallucinated_answers"]]):
            key = f"r{i}-a{k}"
            answers[key] = answer
            cases.append(
                {
                    "id": key,
                    "vars": {"question": row["question"], "key": key},
                    "context": row["knowledge"],
                    "tags": ["right" if k == 0 else "hallucinated"],
                }
            )
    suite = {
        "name": "halueval-qa-grounded",
        "description": "HaluEval QA: each recorded answer scored against its row's knowledge.",
        "models": [MODEL],
        "prompt": {
            "system": "Answer from the context only.",
            "user": "{{context}}\n\nQuestion: {{question}}\n[case {{key}}]",
        },
        "defaults": {"temperature": 0, "max_tokens": 100, "assert": [{"type": "grounded", "threshold": 0.5}]},
        "cases": cases,
    }
    return suite, answers


def gateway_config(upstream: str, folder: Path, tree: str) -> dict[str, Any]:
    """A config with the fake upstream's model and a store of ``tree``'s own (trees may differ in
    their migrations)."""
    return {
        "model_list": [
            {
                "model_name": MODEL,
                "litellm_params": {
                    "model": "openai/halueval-reader",
                    "api_base": upstream,
                    "api_key": "sk-upstream-0123456789",
                    "input_cost_per_token": "0.0000015",
                    "output_cost_per_token": "0.000002",
                },
            }
        ],
        "general_settings": {"master_key": KEY},
        "llmgate": {
            "database_url": f"sqlite:///{folder / f'llmgate-{tree}.db'}",
            "spill_dir": str(folder / f"spill-{tree}"),
        },
    }


# --- the fake upstream ------------------------------------------------------------------------


@contextmanager
def upstream(answers: dict[str, str]) -> Iterator[str]:
    """A fake OpenAI upstream on loopback answering each case with its recorded answer."""

    async def chat(request: web.Request) -> web.Response:
        body = await request.json()
        prompt = str(body["messages"][-1]["content"])
        match = _CASE_KEY.search(prompt)
        text = answers[match.group(1)] if match else "I do not know."
        used = {"prompt_tokens": len(prompt) // 4, "completion_tokens": len(text.split())}
        reply = {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", MODEL),
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            ],
            "usage": {**used, "total_tokens": sum(used.values())},
        }
        return web.Response(body=orjson.dumps(reply), content_type="application/json")

    async def models(_: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": MODEL, "object": "model"}]})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/v1/models", models)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    runner = web.AppRunner(app, access_log=None)

    async def start() -> None:
        await runner.setup()
        await web.SockSite(runner, sock).start()
        ready.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(start()), loop.run_forever()))
    thread.start()
    assert ready.wait(10)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


# --- one run ----------------------------------------------------------------------------------


def run_once(
    folder: Path, src: Path | None, concurrency: int, tree: str, tag: str, direct: str | None = None
) -> dict[str, Any]:
    report = folder / f"report-{tree}-{tag}.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMGATE_")}
    env["NO_COLOR"] = "1"
    # bytecode compiled once and kept, as an installed package has it (pip compiles at install),
    # in a folder of its own: the environment may say PYTHONDONTWRITEBYTECODE
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(folder / f"pycache-{tree}")
    env["LLMGATE_DATABASE_URL"] = f"sqlite:///{folder / f'llmgate-{tree}.db'}"  # the store without --config
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(src), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    command = [
        sys.executable,
        "-c",
        "import sys; from llmgate.cli.main import main; sys.argv[0] = 'llmgate'; main()",
        "eval",
        "run",
        str(folder / "suite.yaml"),
        *(
            ["--base-url", direct, "--api-key", KEY]
            if direct
            else ["--config", str(folder / f"config-{tree}.yaml")]
        ),
        "--concurrency",
        str(concurrency),
        "--output",
        "json",
        "--out",
        str(report),
    ]
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=folder, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    load_after = os.getloadavg()[0]
    if done.returncode not in (0, 1) or not report.is_file():
        raise SystemExit(f"eval run failed ({done.returncode}): {done.stderr[-2000:]}")
    data = orjson.loads(report.read_bytes())["runs"][0]
    cases = data["cases"]
    errors = [c for c in cases if c["status"] == "error"]
    if errors:
        raise SystemExit(f"{len(errors)} cases errored, e.g. {errors[0]['error']}")
    run = data["run"]
    return {
        "wall_s": wall,
        "run_s": float(run["duration_s"]),
        "cases": len(cases),
        "passed": sum(1 for c in cases if c["pass"]),
        "scores": {c["id"]: c["assertions"][0]["score"] for c in cases},
        "load": (load_before, load_after),
    }


def scoring_alone(suite: dict[str, Any], answers: dict[str, str]) -> dict[str, float]:
    """Cases/s of scoring the suite's answers once the embedder is loaded, median of 3 passes:
    one at a time (``evaluate``), in batches in this process (``evaluate_batch``, ``MAX_BATCH`` at
    a time) and in the scorer process ``eval run`` uses (``ScorerProcess``, the same batches).
    The vector cache is emptied before each pass (a new scorer process for each of its passes)."""
    from llmgate.evals.assertions import AssertionSpec, Check, evaluate, evaluate_batch
    from llmgate.evals.scorer_process import ScorerProcess
    from llmgate.evals.scoring import MAX_BATCH
    from llmgate.quality.embedder import default_embedder

    spec = AssertionSpec.model_validate(suite["defaults"]["assert"][0])
    items = [
        (spec, Check(output=answers[c["id"]], question=c["vars"]["question"], context=c["context"]))
        for c in suite["cases"]
    ]
    batches = [items[i : i + MAX_BATCH] for i in range(0, len(items), MAX_BATCH)]
    embedder = default_embedder()
    embedder.load()

    def timed(score: Any) -> float:
        rates = []
        for _ in range(3):
            embedder.clear_cache()
            start = time.perf_counter()
            score()
            rates.append(len(items) / (time.perf_counter() - start))
        return median(rates)

    async def one_by_one() -> None:
        for s, c in items:
            await evaluate(s, c)

    out = {
        "one at a time": timed(lambda: asyncio.run(one_by_one())),
        "in batches, this process": timed(lambda: [evaluate_batch(b) for b in batches]),
    }
    rates = []
    for _ in range(3):  # a fresh child each pass: its vector cache starts empty
        with ScorerProcess("benchmark") as child:
            child.wait_ready()
            start = time.perf_counter()
            for batch in batches:
                child.score(batch)
            rates.append(len(items) / (time.perf_counter() - start))
    out["in batches, the scorer process"] = median(rates)
    return out


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    walls = [r["wall_s"] for r in runs]
    rates = [r["cases"] / r["run_s"] for r in runs]
    return {
        "wall": median(walls),
        "wall_range": (min(walls), max(walls)),
        "end_to_end_rate": runs[0]["cases"] / median(walls),
        "rate": median(rates),
        "rate_range": (min(rates), max(rates)),
        "passed": runs[0]["passed"],
        "cases": runs[0]["cases"],
    }


def render(results: dict[str, Any]) -> str:
    lines = [
        SECTION,
        "",
        f"Run {results['when']} with `python benchmarks/eval_run_speed.py{results['argv']}`. "
        f"Machine: {results['machine']}. One-minute load average from {results['load'][0]:.2f} to "
        f"{results['load'][1]:.2f} over the runs.",
        "",
        f"`llmgate eval run` of a {results['cases']}-case suite built from `halueval_qa_dev.jsonl` (every "
        "row's right answer and its two hallucinated answers, the row's knowledge as the context, the "
        "`grounded` assertion) with `--config` (the in-process gateway, recording to SQLite) against a "
        f"fake OpenAI upstream on loopback that answers each case with its recorded answer; "
        f"`--concurrency {results['concurrency']}`; {results['rounds']} runs of each tree, alternating, "
        "medians (min to max in brackets). End to end: the subprocess's wall time, start-up and loading "
        "the embedding model included; of the run: the cases over the run's own `duration_s` (which, "
        "since the scorer process loads the model while the first model calls go on, includes part of "
        "the loading). Goal: under 12 s end to end and at least 100 cases/s once the model is loaded on "
        "a quiet 2-core machine.",
        "",
        "| tree | end to end (s) | cases/s end to end | cases/s of the run | passed |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for label, s in results["trees"].items():
        lines.append(
            f"| {label} | {s['wall']:.1f} ({s['wall_range'][0]:.1f} to {s['wall_range'][1]:.1f}) "
            f"| {s['end_to_end_rate']:.0f} | {s['rate']:.0f} ({s['rate_range'][0]:.0f} to "
            f"{s['rate_range'][1]:.0f}) | {s['passed']} / {s['cases']} |"
        )
    if "same_scores" in results:
        lines += ["", results["same_scores"]]
    if "scoring" in results:
        lines += [
            "",
            f"Scoring alone once the model is loaded (this tree, the same {results['cases']} answers, "
            "median of 3 passes with the vector cache emptied, cases/s):",
            "",
            "| how | cases/s |",
            "| --- | ---: |",
            *(f"| {how} | {rate:.0f} |" for how, rate in results["scoring"].items()),
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=3, help="runs of each tree")
    parser.add_argument("--rows", type=int, default=250, help="QA rows to use (3 cases each)")
    parser.add_argument("--concurrency", type=int, default=4, help="eval run --concurrency")
    parser.add_argument("--before-src", type=Path, help="another source tree to run too (its src/)")
    parser.add_argument(
        "--direct",
        action="store_true",
        help="--base-url the fake upstream itself, no gateway (default: --config, the in-process gateway)",
    )
    parser.add_argument("--no-scoring", action="store_true", help="skip measuring the scorer alone")
    parser.add_argument("--write", action="store_true", help="write the section of benchmarks/RESULTS.md")
    args = parser.parse_args(argv)

    data = shared_data_dir()
    if data is None:
        print("shared data not found (set LLMGATE_SHARED_DATA)", file=sys.stderr)
        return 2
    rows = load_jsonl(data / "halueval_qa_dev.jsonl")[: args.rows]
    suite, answers = build_suite(rows)
    trees: dict[str, Path | None] = {}
    if args.before_src is not None:
        trees["before"] = args.before_src.resolve()
    trees["this tree" if args.before_src is None else "after"] = None
    runs: dict[str, list[dict[str, Any]]] = {label: [] for label in trees}
    loads: list[float] = []
    with tempfile.TemporaryDirectory(prefix="llmgate-eval-speed-") as tmp, upstream(answers) as url:
        folder = Path(tmp)
        direct = url if args.direct else None
        (folder / "suite.yaml").write_text(yaml.safe_dump(suite, sort_keys=False), encoding="utf-8")
        for label, src in trees.items():  # not measured: compiles the bytecode, warms the disk cache
            tree = label.replace(" ", "-")
            config = gateway_config(url, folder, tree)
            (folder / f"config-{tree}.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
            run_once(folder, src, args.concurrency, tree, "warm-up", direct)
        for n in range(args.rounds):
            for label, src in trees.items():
                result = run_once(folder, src, args.concurrency, label.replace(" ", "-"), str(n), direct)
                runs[label].append(result)
                loads += result["load"]
                print(
                    f"{label} #{n + 1}: {result['wall_s']:.2f} s end to end, "
                    f"{result['cases'] / result['run_s']:.0f} cases/s once loaded ({result['run_s']:.2f} s), "
                    f"{result['passed']} passed; load {result['load'][0]:.2f} -> {result['load'][1]:.2f}",
                    flush=True,
                )
    results: dict[str, Any] = {
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "argv": "".join(f" {a}" for a in (argv if argv is not None else sys.argv[1:]) if a != "--write"),
        "load": (loads[0], loads[-1]),
        "rounds": args.rounds,
        "concurrency": args.concurrency,
        "cases": len(answers),
        "trees": {label: summarise(r) for label, r in runs.items()},
    }
    if not args.no_scoring:
        results["scoring"] = scoring_alone(suite, answers)
    if len(trees) == 2:
        before, after = (runs[label][0]["scores"] for label in trees)
        differ = [case for case in before if before[case] != after.get(case)]
        results["same_scores"] = (
            f"Both trees gave every case the same `grounded` score (to the report's 6 decimals): {len(before)} cases."
            if not differ
            else f"{len(differ)} of {len(before)} cases scored differently, e.g. {differ[:5]}."
        )
    text = render(results)
    print()
    print(text)
    if args.write:
        write_section(text, SECTION)
        print(f"wrote the {SECTION!r} section of benchmarks/RESULTS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
