"""store.bodies: what a body is stored as, and that it reads back as it was written."""

from __future__ import annotations

import random
import threading

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from test_traffic import T0, row

from llmgate.store.bodies import pack, unpack
from llmgate.store.records import get_record, insert_records
from support.shared_data import english

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "short",
        "é ü 日本 🚀 \x00 nul",
        "lone surrogate \ud800 kept",
        '{"messages": [{"role": "user", "content": "a \\"quoted\\" word"}]}' * 20,
    ],
)
def test_every_text_reads_back_as_written(text: str) -> None:
    assert unpack(pack(text)) == text


def test_a_kilobyte_of_english_is_stored_in_under_two_thirds() -> None:
    text = english(1024)
    packed = pack(text)
    assert packed.startswith(ZSTD_MAGIC)
    assert len(packed) < 0.65 * len(text.encode())
    assert unpack(packed) == text


def test_short_bodies_are_kept_as_utf8_and_none_grows() -> None:
    assert pack("hi there") == b"hi there"
    noise = "".join(chr(random.Random(3).randrange(0x4E00, 0x9FFF)) for _ in range(300))
    stored = pack(noise)
    assert len(stored) <= len(noise.encode())
    assert unpack(stored) == noise


def test_text_stored_before_bodies_were_packed_reads_as_it_was() -> None:
    assert unpack("old text column") == "old text column"  # SQLite's TEXT
    assert unpack(memoryview(b"old bytea")) == "old bytea"  # PostgreSQL after 0020


def test_threads_pack_and_unpack_at_once() -> None:
    texts = [english(900 + 13 * i) for i in range(16)]
    failures: list[str] = []

    def work() -> None:
        for _ in range(50):
            for text in texts:
                if unpack(pack(text)) != text:
                    failures.append(text[:20])

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_the_store_keeps_bodies_packed_and_gives_them_back_as_text(engine: Engine) -> None:
    prompt, answer = english(1100), english(1500)[400:]
    record = row(T0, request_json=prompt, response_text=answer, tool_calls_json="[]")
    insert_records(engine, [record])
    with engine.connect() as conn:
        stored = conn.execute(
            sa.text("SELECT request_json, response_text, tool_calls_json FROM requests WHERE id = :id"),
            {"id": record["id"]},
        ).one()
    assert bytes(stored[0]).startswith(ZSTD_MAGIC) and bytes(stored[1]).startswith(ZSTD_MAGIC)
    assert len(bytes(stored[0])) + len(bytes(stored[1])) < 0.65 * (len(prompt) + len(answer))
    assert bytes(stored[2]) == b"[]"
    read = get_record(engine, record["id"])
    assert read is not None
    assert (read["request_json"], read["response_text"], read["tool_calls_json"]) == (prompt, answer, "[]")
