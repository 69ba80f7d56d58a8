"""An agent loop against the mock's tool model ends: call -> tool_calls -> tool result -> text.

Through the ``openai`` SDK against a real gateway on loopback serving the shipped default config's
``mock-tool`` alias, plain and streamed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
import yaml

from support.gateway import RunningGateway

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = yaml.safe_load((ROOT / "configs" / "default.yaml").read_text(encoding="utf-8"))
KEY = DEFAULT["general_settings"]["master_key"]
TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "Look a word up",
            "parameters": {"type": "object", "properties": {"input": {"type": "string"}}},
        },
    }
]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[openai.OpenAI]:
    tmp = tmp_path_factory.mktemp("tool-loop")
    config = {
        **DEFAULT,
        "llmgate": {"database_url": f"sqlite:///{tmp / 'store.db'}", "spill_dir": str(tmp / "spill")},
    }
    running = RunningGateway(config, tmp).start()
    try:
        yield running.client(KEY)
    finally:
        running.stop()


def tool(arguments: str) -> str:
    return f"definition of {json.loads(arguments)['input']}"


def run_loop(client: openai.OpenAI, *, stream: bool) -> tuple[int, str, str]:
    """The usual agent loop, bounded at 5 calls: (calls made, last finish reason, final text)."""
    messages: list[Any] = [{"role": "user", "content": "serendipity"}]
    for calls in range(1, 6):
        if stream:
            text, tool_calls, finish = "", [], ""
            for chunk in client.chat.completions.create(
                model="mock-tool", messages=messages, tools=TOOLS, stream=True
            ):
                choice = chunk.choices[0]
                text += choice.delta.content or ""
                tool_calls += [
                    {
                        "id": c.id,
                        "type": "function",
                        "function": {"name": c.function.name, "arguments": c.function.arguments},
                    }
                    for c in choice.delta.tool_calls or []
                    if c.function is not None
                ]
                finish = choice.finish_reason or finish
        else:
            choice = client.chat.completions.create(
                model="mock-tool", messages=messages, tools=TOOLS
            ).choices[0]
            text, finish = choice.message.content or "", choice.finish_reason
            tool_calls = [c.model_dump() for c in choice.message.tool_calls or []]
        if not tool_calls:
            return calls, finish, text
        assert finish == "tool_calls"
        messages.append({"role": "assistant", "content": None, "tool_calls": tool_calls})
        for call in tool_calls:
            messages.append(
                {"role": "tool", "tool_call_id": call["id"], "content": tool(call["function"]["arguments"])}
            )
    raise AssertionError("the agent loop never ended")


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_agent_loop_ends_in_two_calls(client: openai.OpenAI, stream: bool) -> None:
    calls, finish, text = run_loop(client, stream=stream)
    assert (calls, finish) == (2, "stop")
    assert text == "The tool returned: definition of serendipity"
