"""Kept responses: found at once in memory, written to the store in the background, read back from
the store by another process (a fresh memory), for their owner only, and deleted everywhere."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from llmgate.apis.responses_memory import ResponseMemory, StoredResponse, now
from llmgate.store.migrate import upgrade
from llmgate.store.responses import load_response


def entry(response_id: str, previous: str | None, text: str, owner: str | None = "key_a") -> StoredResponse:
    item = {"id": f"msg_{response_id}", "type": "message", "role": "user", "content": text}
    output = {"id": f"out_{response_id}", "type": "message", "role": "assistant", "content": []}
    response: dict[str, Any] = {"id": response_id, "output": [output]}
    return StoredResponse(response_id, owner, "dep", now(), previous, [item], response)


def engine_at(tmp_path: Path) -> Engine:
    engine = create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    return engine


def test_a_chain_is_kept_and_read_back_from_the_store(tmp_path: Path) -> None:
    engine = engine_at(tmp_path)

    async def run() -> None:
        memory = ResponseMemory(lambda: engine)
        memory.remember(entry("resp_1", None, "one"))
        memory.remember(entry("resp_2", "resp_1", "two"))
        chain = await memory.chain("resp_2", "key_a")  # at once, before any write
        assert [item["id"] for item in chain or []] == [
            "msg_resp_1",
            "out_resp_1",
            "msg_resp_2",
            "out_resp_2",
        ]
        await memory.close()

        later = ResponseMemory(lambda: engine)  # another replica, or this one restarted
        assert await later.chain("resp_2", "key_a") == chain
        assert await later.chain("resp_2", "key_b") is None
        assert await later.owned("resp_1", None) is None
        await later.forget("resp_2")
        assert load_response(engine, "resp_2") is None
        assert load_response(engine, "resp_1") is not None

    asyncio.run(run())


def test_a_passed_through_response_is_no_chain_of_ours(tmp_path: Path) -> None:
    async def run() -> None:
        memory = ResponseMemory(None)
        memory.remember(StoredResponse("resp_p", "key_a", "dep", now(), None, None, None))
        assert (await memory.owned("resp_p", "key_a")) is not None
        assert await memory.chain("resp_p", "key_a") is None

    asyncio.run(run())


def test_memory_is_bounded(tmp_path: Path) -> None:
    async def run() -> None:
        memory = ResponseMemory(None, capacity=2)
        for i in range(3):
            memory.remember(entry(f"resp_{i}", None, str(i)))
        assert await memory.get("resp_0") is None
        assert await memory.get("resp_2") is not None

    asyncio.run(run())
