"""store.body_search: the text of packed bodies searched page by page, newest first, as the SQL
``ILIKE`` it replaced did (tests/store/test_traffic.py ``test_text_search`` keeps its cases)."""

from __future__ import annotations

from datetime import timedelta

import orjson
from sqlalchemy.engine import Engine
from test_traffic import T0, row

from llmgate.store.body_search import text_matches
from llmgate.store.records import insert_records, list_records
from llmgate.store.traffic import RequestFilter, search_requests


def prompt(text: str) -> str:
    return orjson.dumps({"messages": [{"role": "user", "content": text}]}).decode()


def test_matches_fold_case_beyond_ascii_and_read_the_request_as_stored() -> None:
    request = prompt('Straße "ÉTÉ" \\ path')
    assert text_matches(request, None, "STRASSE")  # Unicode case folding: ß is ss
    assert not text_matches(request, None, "strase")
    assert text_matches(request, None, "straße") and text_matches(request, None, "été")
    assert text_matches(request, None, '"été"') and text_matches(request, None, "\\ path")
    assert not text_matches(None, None, "x")
    assert text_matches(None, "Forty-Two", "forty")


def test_rare_matches_are_found_across_many_pages_newest_first(engine: Engine) -> None:
    rows = [row(T0 - timedelta(seconds=i), response_text=f"filler {i}") for i in range(3000)]
    needles = {5, 450, 1900, 2999}  # the first page holds 200 rows; the last needle is the oldest
    for i in needles:
        rows[i]["response_text"] = f"the Needle {i}"
    rows[1200]["request_json"] = prompt("a needle in the prompt")
    insert_records(engine, rows)
    expected = [rows[i]["id"] for i in sorted({*needles, 1200})]

    everything = list_records(engine, RequestFilter(text="NEEDLE"), limit=50)
    assert [r["id"] for r in everything] == expected
    assert [r["id"] for r in list_records(engine, RequestFilter(text="needle"), limit=2)] == expected[:2]

    first = search_requests(engine, RequestFilter(text="needle"), limit=3)
    assert [r["id"] for r in first] == expected[:3]
    assert first[0]["response_head"] == "the Needle 5" and "request_json" not in first[0]
    last = first[-1]
    rest = search_requests(engine, RequestFilter(text="needle"), before=(last["created_at"], last["id"]))
    assert [r["id"] for r in rest] == expected[3:]
    assert search_requests(engine, RequestFilter(text="no such words"), limit=5) == []


def test_the_rest_of_the_filter_narrows_before_the_text_is_read(engine: Engine) -> None:
    rows = [
        row(T0 - timedelta(seconds=i), model="a" if i % 2 else "b", response_text="same words")
        for i in range(40)
    ]
    insert_records(engine, rows)
    found = list_records(
        engine, RequestFilter(text="same", model="a", since=T0 - timedelta(seconds=10)), limit=100
    )
    assert {r["id"] for r in found} == {rows[i]["id"] for i in range(1, 11, 2)}
