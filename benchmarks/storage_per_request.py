"""Bytes per stored request (issue 21): N typical requests through the store's real insert path
(``insert_records``), then the ``requests`` table's size on each store.

    python benchmarks/storage_per_request.py                 # SQLite and PostgreSQL (database helpers)
    python benchmarks/storage_per_request.py --n 50000 --postgres postgresql+psycopg://postgres@127.0.0.1/x

A typical request: a 1 KB prompt (``request_json``: messages, model, temperature), a 1 KB answer,
and the other columns as the recorder fills them for a keyed chat completion (key, team, user,
deployment, tokens, cost, latency, a prompt hash, tags, attempts). The text is words drawn at random
from a small vocabulary (it compresses, not as a repeated string would) and, on PostgreSQL, also
real English (HaluEval's passages and answers from ``../shared/data``), as migrated (bodies packed by
the writer, migration 0020) and as stored before 0020 (text, lz4).

PostgreSQL (a throwaway schema each): heap (``pg_relation_size``), TOAST (its table and index), every
index (``pg_relation_size`` each) and the total (``pg_total_relation_size``), after ``VACUUM
ANALYZE``. SQLite: ``dbstat`` per table and index, and the file after a WAL checkpoint. Writes the
"## Issue 21: storage per request" section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import re
import secrets
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from alembic import command
from sqlalchemy.engine import Engine, make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import load_jsonl, shared_data_dir, write_section

from llmgate.store import bodies
from llmgate.store.db import create_engine_for
from llmgate.store.migrate import alembic_config, upgrade
from llmgate.store.records import insert_records, list_records
from llmgate.store.request_filter import RequestFilter

TITLE = "## Issue 21: storage per request"
WORDS = re.findall(
    r"\w+",
    "the a of to and in is it that for on with as was be by this are or from at an not have which "
    "you model answer question data table request token cost latency user team key budget report "
    "store please explain summarise translate write code function error value number list order "
    "customer invoice shipping account password reset email meeting schedule project deadline "
    "review result",
)


def text(rng: random.Random, size: int) -> str:
    out: list[str] = []
    length = 0
    while length < size:
        word = rng.choice(WORDS)
        out.append(word)
        length += len(word) + 1
    return " ".join(out)[:size]


def english_texts() -> list[str]:
    """Real English: HaluEval's passages, questions and answers (``../shared/data``)."""
    directory = shared_data_dir()
    if directory is None:
        raise SystemExit("shared data not found (set LLMGATE_SHARED_DATA)")
    general = load_jsonl(directory / "halueval_general_dev.jsonl")
    qa = load_jsonl(directory / "halueval_qa_dev.jsonl")
    return [f"{row['user_query']} {row['response']}" for row in general] + [
        f"{row['knowledge']} {row['question']} {row['right_answer']}" for row in qa
    ]


def english(texts: list[str]) -> Callable[[random.Random, int], str]:
    """``text``'s signature, drawing real English from ``texts`` instead of random words."""

    def draw(rng: random.Random, size: int) -> str:
        out = ""
        while len(out) < size:
            out += rng.choice(texts) + " "
        return out[:size]

    return draw


def typical_row(
    rng: random.Random, at: datetime, text: Callable[[random.Random, int], str] = text
) -> dict[str, Any]:
    prompt = text(rng, 880)
    request = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "system", "content": "You are helpful."}, {"role": "user", "content": prompt}],
        "temperature": 0.2,
    }
    answer = text(rng, 1024)
    return {
        "id": uuid.uuid4().hex,
        "created_at": at,
        "endpoint": "chat/completions",
        "model": "gpt-4o-mini",
        "deployment": "openai-1",
        "provider": "openai",
        "upstream_model": "gpt-4o-mini-2024-07-18",
        "auth_identity": "key:key_3f9a1c2b",
        "user": f"user-{rng.randrange(500)}",
        "stream": rng.random() < 0.5,
        "status": "success",
        "status_code": 200,
        "request_json": json.dumps(request),
        "response_text": answer,
        "finish_reason": "stop",
        "prompt_tokens": 230,
        "completion_tokens": 240,
        "total_tokens": 470,
        "cost_usd": Decimal("0.0001785"),
        "latency_ms": rng.uniform(200, 2000),
        "ttft_ms": rng.uniform(50, 400),
        "attempts": 1,
        "attempts_json": json.dumps([{"deployment": "openai-1", "status": 200, "latency_ms": 812.4}]),
        "prompt_hash": secrets.token_hex(32),
        "prompt_chars": len(prompt),
        "response_chars": len(answer),
        "tags_json": json.dumps(["prod", "chat"]),
        "key_id": f"key_{rng.randrange(50):08x}",
        "team_id": f"team-{rng.randrange(10)}",
        "cache": "miss",
    }


def fill(engine: Engine, n: int, text: Callable[[random.Random, int], str] = text) -> None:
    rng = random.Random(21)
    start = datetime.now(UTC) - timedelta(days=30)
    step = timedelta(days=30) / n
    for first in range(0, n, 500):
        insert_records(
            engine, [typical_row(rng, start + step * i, text) for i in range(first, min(n, first + 500))]
        )


@contextlib.contextmanager
def pg_schema(base_url: str) -> Iterator[tuple[str, str]]:
    schema = f"llmgate_bench_{secrets.token_hex(4)}"
    base = make_url(base_url).set(drivername="postgresql+psycopg")
    libpq = base.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        url = base.update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False), schema
    finally:
        with psycopg.connect(libpq, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


BODIES = ("request_json", "response_text", "tool_calls_json")


def fill_as_text(engine: Engine, n: int, text: Callable[[random.Random, int], str]) -> None:
    """``fill`` as the store wrote before migration 0020 (at 0019: bodies as text, lz4): the rows
    inserted without bodies, their bodies set as text, and the table rewritten (``VACUUM FULL``)
    so that it is laid out as inserted rows would be."""
    rng = random.Random(21)
    start = datetime.now(UTC) - timedelta(days=30)
    step = timedelta(days=30) / n
    for first in range(0, n, 500):
        rows = [typical_row(rng, start + step * i, text) for i in range(first, min(n, first + 500))]
        bodies = [{"id": row["id"], **{c: row.pop(c, None) for c in BODIES}} for row in rows]
        insert_records(engine, rows)
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "UPDATE requests SET request_json = %(request_json)s, response_text = %(response_text)s,"
                " tool_calls_json = %(tool_calls_json)s WHERE id = %(id)s",
                bodies,
            )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM FULL requests")


def postgres_sizes(
    url: str,
    schema: str,
    n: int,
    *,
    text: Callable[[random.Random, int], str] = text,
    as_text: bool = False,
) -> dict[str, Any]:
    engine = create_engine_for(url)
    if as_text:  # the schema and the bodies as they were before 0020
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), "0019")
        fill_as_text(engine, n, text)
    else:
        upgrade(engine)
        fill(engine, n, text)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE requests")
        rel = f'"{schema}".requests'
        # requests is partitioned by month (store/partitions.py): every size is summed over its months
        row = conn.exec_driver_sql(
            "SELECT sum(pg_relation_size(t.relid)), sum(pg_indexes_size(t.relid)),"
            " sum(pg_total_relation_size(t.relid)),"
            " sum(COALESCE((SELECT pg_total_relation_size(c.reltoastrelid) FROM pg_class c"
            "  WHERE c.oid = t.relid AND c.reltoastrelid <> 0), 0))"
            f" FROM pg_partition_tree('{rel}') t"
        ).one()
        indexes = conn.exec_driver_sql(
            "SELECT c.relname, (SELECT sum(pg_relation_size(p.relid)) FROM pg_partition_tree(c.oid) p)"
            " FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            f" WHERE i.indrelid = '{rel}'::regclass ORDER BY 2 DESC"
        ).all()
    search_ms = search_nothing_ms(engine, as_text)
    engine.dispose()
    heap, index_total, total, toast = row
    return {
        "heap": heap,
        "toast": toast,
        "indexes": index_total,
        "total": total,
        "each": [(name, size) for name, size in indexes],
        "search_ms": search_ms,
    }


#: a phrase no request holds: a search for it reads every row
NOWHERE = "zzqx nowhere"


def search_nothing_ms(engine: Engine, as_text: bool) -> float:
    """The best of three searches for ``NOWHERE`` (``llmgate logs --text``, 50 rows): in Python over
    the packed bodies, or (``as_text``) the SQL ``ILIKE`` the store ran before 0020."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        if as_text:
            with engine.connect() as conn:
                conn.exec_driver_sql(
                    "SELECT * FROM requests WHERE request_json ILIKE %(like)s OR response_text ILIKE %(like)s"
                    " ORDER BY created_at DESC, id DESC LIMIT 50",
                    {"like": f"%{NOWHERE}%"},
                ).all()
        else:
            list_records(engine, RequestFilter(text=NOWHERE), limit=50)
        best = min(best, time.perf_counter() - start)
    return best * 1000


@contextlib.contextmanager
def bodies_stored(packed: bool) -> Iterator[None]:
    """The store packing the bodies as it does, or (``packed`` false, for comparison) storing their
    UTF-8 bytes: ``store.bodies.pack`` replaced while inside."""
    pack = bodies.pack
    if not packed:
        bodies.pack = lambda text: text.encode("utf-8", "surrogatepass")
    try:
        yield
    finally:
        bodies.pack = pack


def writer_cost(base_url: str, n: int, rounds: int = 2) -> dict[str, list[tuple[float, float]]]:
    """The writer's insert of ``n`` English requests (``insert_records`` on PostgreSQL, batches of
    500) with the bodies packed and, alternated with it, stored as their UTF-8 bytes
    (``bodies_stored``): rows/s and the writer's CPU per row, each round."""
    prose = english(english_texts())
    out: dict[str, list[tuple[float, float]]] = {"packed": [], "unpacked": []}
    for _ in range(rounds):
        for label in out:
            with bodies_stored(label == "packed"), pg_schema(base_url) as (url, _schema):
                engine = create_engine_for(url)
                upgrade(engine)
                rng = random.Random(21)
                start = datetime.now(UTC) - timedelta(days=30)
                batches = [
                    [typical_row(rng, start + timedelta(seconds=i), prose) for i in range(f, min(n, f + 500))]
                    for f in range(0, n, 500)
                ]
                cpu, wall = time.process_time(), time.perf_counter()
                for batch in batches:
                    insert_records(engine, batch)
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                engine.dispose()
            out[label].append((n / wall, cpu / n * 1e6))
    return out


def sqlite_sizes(directory: Path, n: int) -> dict[str, Any]:
    path = directory / "store.db"
    engine = create_engine_for(f"sqlite:///{path}")
    upgrade(engine)
    fill(engine, n)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        per = conn.exec_driver_sql(
            "SELECT name, SUM(pgsize) FROM dbstat WHERE name = 'requests' OR name IN"
            " (SELECT name FROM sqlite_master WHERE tbl_name = 'requests' AND type = 'index')"
            " GROUP BY name ORDER BY 2 DESC"
        ).all()
    engine.dispose()
    table = next(size for name, size in per if name == "requests")
    return {
        "table": table,
        "indexes": sum(size for name, size in per if name != "requests"),
        "each": [(name, size) for name, size in per if name != "requests"],
        "file": path.stat().st_size,
    }


def per(size: int, n: int) -> str:
    return f"{size / n:,.0f} B"


def report(
    n: int,
    pg: dict[str, dict[str, Any]] | None,
    lite: dict[str, Any],
    cost: dict[str, list[tuple[float, float]]] | None = None,
    cost_n: int = 0,
) -> str:
    lines = [
        TITLE,
        "",
        f"{n:,} typical requests (1 KB prompt, 1 KB answer, the other columns as the recorder fills them) "
        "stored through `insert_records`, then measured "
        "(`python benchmarks/storage_per_request.py`).",
        "",
    ]
    if pg is not None:
        words, prose, before = pg["words"], pg["english"], pg["english, text"]
        lines += [
            "PostgreSQL, per request: bodies of words drawn from a small vocabulary, and of real English "
            "(HaluEval's passages and answers), as migrated (packed by the writer with zstd since migration "
            "0020), and English as stored before 0020 (text, compressed by PostgreSQL with lz4; its rows "
            "written as text by an UPDATE, then `VACUUM FULL`, which also rebuilt its indexes tightly):",
            "",
            "| part | words | English | English, before 0020 |",
            "|---|---|---|---|",
            *(
                f"| {label} | {per(words[key], n)} | {per(prose[key], n)} | {per(before[key], n)} |"
                for label, key in (
                    ("heap (`pg_relation_size`)", "heap"),
                    ("TOAST (table and index)", "toast"),
                    ("indexes (`pg_indexes_size`)", "indexes"),
                )
            ),
            f"| **total** (`pg_total_relation_size`) | **{per(words['total'], n)}** | "
            f"**{per(prose['total'], n)}** | **{per(before['total'], n)}** |",
            "",
            "Indexes on `requests` (PostgreSQL, words), per request: "
            + ", ".join(f"`{name}` {per(size, n)}" for name, size in words["each"]),
            "",
        ]
    lines += [
        "SQLite, per request (words):",
        "",
        "| part | bytes per request |",
        "|---|---|",
        f"| table (`dbstat`) | {per(lite['table'], n)} |",
        f"| indexes (`dbstat`) | {per(lite['indexes'], n)} |",
        f"| **file** (after a WAL checkpoint, every table) | **{per(lite['file'], n)}** |",
        "",
        "Indexes on `requests` (SQLite), per request: "
        + ", ".join(f"`{name}` {per(size, n)}" for name, size in lite["each"]),
        "",
    ]
    if pg is not None:
        lines += notes(n, pg, lite)
    if cost is not None:
        lines += [
            f"The writer's cost (`insert_records` of {cost_n:,} requests of English on PostgreSQL, the "
            "bodies packed and, alternated with it, stored as their UTF-8 bytes; rows/s and the writer "
            "process's CPU per row, each round):",
            "",
            "| bodies | rows/s | writer CPU per row |",
            "|---|---|---|",
            *(
                f"| {label} | {', '.join(f'{r:,.0f}' for r, _ in runs)} | "
                f"{', '.join(f'{c:.0f} us' for _, c in runs)} |"
                for label, runs in cost.items()
            ),
            "",
        ]
    return "\n".join(lines)


def notes(n: int, pg: dict[str, dict[str, Any]], lite: dict[str, Any]) -> list[str]:
    """What the figures say: the goal, the indexes, SQLite's pages."""
    words, prose, before = pg["words"], pg["english"], pg["english, text"]
    met = "met" if max(words["total"], prose["total"]) / n <= 2048 else "not met"
    return [
        f"- **Goal (at most 2 KB per request on PostgreSQL): {met}.** {per(words['total'], n)} with bodies "
        f"of words, {per(prose['total'], n)} with real English ({per(before['total'], n)} before migration "
        "0020). The writer packs each body with zstd before it goes to the database (`store/bodies.py`): "
        "a kilobyte of English takes about 585 B. PostgreSQL compresses nothing in a row under about 2 KB, "
        "and its pglz and lz4 save little on a kilobyte of text (before 0020, one body of a row went out "
        "of line with lz4, the other stayed in the row as it came). The other columns take about 400 B, "
        "the indexes the rest.",
        "- **What it costs**: the writer process packs a 1 KB body in about 8 us (zstd level 1; zlib "
        "took 26 us for 5% less), and a read unpacks it in about 3 us (the writer's rows/s below). SQL "
        "cannot look inside a packed body: a text search (`llmgate logs --text`, the dashboard's search) "
        "reads the rows the rest of its filter keeps, newest first, and looks in Python "
        f"(`store/body_search.py`). A search that finds nothing reads all {n:,} requests: "
        f"{prose['search_ms']:,.0f} ms (English; words {words['search_ms']:,.0f} ms), against "
        f"{before['search_ms']:,.0f} ms for the `ILIKE` over the text before 0020.",
        "- **Indexes**: the spend reports' covering indexes (`ix_requests_spend_pg`, 115 B a request; "
        "SQLite's `ix_requests_spend`, 138 B) went in migration 0016: the reports read the rollups, and "
        "raw rows only for partial hours. The others serve logs, the dashboard, canaries, sessions and keys.",
        "- **Rollups** are not in these figures: `rollup_hours` adds about 89 B a request at the traffic "
        "of `benchmarks/rollups.py` (40 keys, 320 users, 6 models; one hourly row per 7 requests), "
        "`rollup_days` about 3 B; fewer keys, users and models make them smaller.",
        f"- SQLite: {per(lite['table'], n)} per request for the table (4,106 B before the bodies were "
        "packed, when a row of about 2.4 KB took a 4 KB page of its own).",
        "- PostgreSQL's `requests` is partitioned by month (migration 0017): every figure is summed over "
        "the months; the primary key became `(id, created_at)` (8 B more per entry), and "
        "`ix_requests_created_at` (`ix_requests_created_at_model` leads with the same column) and "
        "`ix_requests_status` (two values) went on both stores. Tried before 0020 with bodies of words "
        "and not applied: `toast_tuple_target` 1,600 B (2,118 B a request against 2,227 B as migrated "
        "then), 512 B (pglz 2,158 B, lz4 2,286 B), 256 B (pglz 2,386 B); with English, `STORAGE MAIN` "
        "(lz4 2,701 B, pglz 3,326 B, 4,000 requests).",
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/helpers")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-write", action="store_true", help="print, do not write RESULTS.md")
    args = parser.parse_args()
    pg = None
    if not args.no_postgres:
        prose = english(english_texts())
        pg = {}
        for label, kwargs in (
            ("words", {}),
            ("english", {"text": prose}),
            ("english, text", {"text": prose, "as_text": True}),
        ):
            with pg_schema(args.postgres) as (url, schema):
                pg[label] = postgres_sizes(url, schema, args.n, **kwargs)  # type: ignore[arg-type]
    cost = None if args.no_postgres else writer_cost(args.postgres, args.n)
    with tempfile.TemporaryDirectory() as directory:
        lite = sqlite_sizes(Path(directory), args.n)
    text_out = report(args.n, pg, lite, cost, args.n)
    print(text_out)
    if not args.no_write:
        write_section(text_out, TITLE)


if __name__ == "__main__":
    main()
