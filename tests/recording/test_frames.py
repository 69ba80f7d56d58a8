"""A record's form on the pipe to the writer process (spill files hold rows, not records): it comes
back equal, to the microsecond and the deployment's last field (its stream's chunks joined in one),
and names no class but its rebuilder, so a record alone in its batch pays no class lookups (the
gateway paid ~15 µs a record for them)."""

from __future__ import annotations

import io
import pickle
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from llmgate.config import build_deployments, parse_config
from llmgate.recording import frames
from llmgate.telemetry.call_record import Attempt, CallRecord
from support.configs import PRICED_GPT

(GPT,) = build_deployments(parse_config({"model_list": [PRICED_GPT]}))


def record(created_at: datetime, **kwargs: object) -> CallRecord:
    kwargs.setdefault("deployment", GPT)
    return CallRecord(
        id="c" * 32,
        created_at=created_at,
        endpoint="chat/completions",
        model="gpt",
        request={"model": "gpt", "messages": [{"role": "user", "content": "hi"}], "stream": True},
        stream=True,
        stream_chunks=[b'data: {"choices": []}\n\n', b"data: [DONE]\n\n"],
        attempts=[
            Attempt(GPT.id, GPT.provider, "error", 3.25, error_type="timeout", status_code=504),
            Attempt(GPT.id, GPT.provider, "success", 12.5, started_ms=3.5, model="gpt-4o", group="gpt"),
        ],
        latency_ms=16.0,
        ttft_ms=14.0,
        **kwargs,  # type: ignore[arg-type]
    )


class _Names(pickle.Unpickler):
    """An unpickler that notes every global a pickle names."""

    def __init__(self, data: bytes) -> None:
        super().__init__(io.BytesIO(data))
        self.names: set[str] = set()

    def find_class(self, module: str, name: str) -> object:
        self.names.add(f"{module}.{name}")
        return super().find_class(module, name)


def test_a_record_crosses_the_pipe_equal_to_the_microsecond() -> None:
    sent = [
        record(datetime(2026, 3, 29, 0, 59, 59, 999_999, tzinfo=UTC), canary_id="c1", arm="stable"),
        record(datetime(1969, 12, 31, 23, 59, 59, 1, tzinfo=UTC)),  # before the epoch
        record(datetime.now(UTC), session_id="s", step="plan"),
    ]
    (_, _, got) = frames.decode(frames.encode(("batch", 7, sent)))
    assert got == [replace(r, stream_chunks=[b"".join(r.stream_chunks)]) for r in sent]  # chunks as one
    assert all(r.created_at.tzinfo is UTC for r in got)
    assert all(isinstance(a, Attempt) for r in got for a in r.attempts)
    assert got[0].deployment is not None and got[0].deployment.api_key == GPT.api_key
    assert got[0].deployment.input_cost_per_token == GPT.input_cost_per_token


def test_a_time_in_another_zone_keeps_its_zone() -> None:
    paris = timezone(timedelta(hours=1))
    sent = record(datetime(2026, 1, 5, 9, 30, tzinfo=paris))
    got = pickle.loads(pickle.dumps(sent, protocol=pickle.HIGHEST_PROTOCOL))
    assert got.created_at == sent.created_at and got.created_at.utcoffset() == timedelta(hours=1)


def test_a_record_names_only_its_rebuilder() -> None:
    frame = frames.encode(("batch", 1, [record(datetime.now(UTC))]))
    reader = _Names(frame[4:])
    reader.load()
    assert reader.names == {"llmgate.telemetry.call_record._call_from_values"}  # its deployment: a blob


def test_a_deployment_is_pickled_once_and_unpickled_once() -> None:
    first = pickle.dumps(record(datetime.now(UTC)), protocol=pickle.HIGHEST_PROTOCOL)
    second = pickle.dumps(record(datetime.now(UTC)), protocol=pickle.HIGHEST_PROTOCOL)
    assert pickle.loads(first).deployment is pickle.loads(second).deployment


def test_a_changed_copy_of_a_deployment_pickles_its_own_values() -> None:
    pickle.dumps(GPT)  # GPT's blob is made
    cheaper = replace(GPT, id="gpt-cheap", input_cost_per_token=Decimal("0.0000001"))
    got = pickle.loads(pickle.dumps(record(datetime.now(UTC), deployment=cheaper)))
    assert got.deployment == cheaper and got.deployment.id == "gpt-cheap"
    assert got.deployment.input_cost_per_token == Decimal("0.0000001")


def test_a_request_json_cannot_hold_crosses_as_it_is() -> None:
    """A request goes as JSON (cheaper to write than to pickle); one JSON cannot hold (a form's
    file, a key that is not a string) goes as it is, and both come back equal."""
    plain = record(datetime.now(UTC))
    form = replace(plain, request={"model": "whisper", "file": b"\x00\xff", 7: "a number for a key"})
    (_, _, got) = frames.decode(frames.encode(("batch", 1, [plain, form])))
    assert [r.request for r in got] == [plain.request, form.request]
