"""``otel_exporter: console``: each request's spans are printed while the gateway runs, as they end.

A person watching ``llmgate serve`` with the console exporter expects to see a request's spans
when the request is recorded, not after a batch delay or only when the gateway shuts down.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from support.served import ServedGateway

SPAN = '"name": "chat mock-echo"'


def test_console_spans_are_printed_as_requests_are_recorded(tmp_path: Path) -> None:
    config = {
        "model_list": [{"model_name": "mock-echo", "litellm_params": {"model": "mock/echo"}}],
        "llmgate": {"otel_exporter": "console"},
    }
    served = ServedGateway(config, tmp_path).start()
    try:
        response = httpx.post(
            served.url + "/v1/chat/completions",
            json={"model": "mock-echo", "messages": [{"role": "user", "content": "Hello, console"}]},
            timeout=10,
        )
        assert response.status_code == 200
        request_id = response.headers["x-llmgate-request-id"]
        served.rows([request_id])  # recorded (the spans are made with the row)
        deadline = time.monotonic() + 1.5  # a batch processor would wait 5 s for more spans
        while request_id not in served.output() and time.monotonic() < deadline:
            time.sleep(0.02)
        output = served.output()
        assert SPAN in output, "no span printed while the gateway runs:\n" + output[-2000:]
        # without a traceparent, the trace id is the request id
        assert f'"trace_id": "0x{request_id}"' in output
    finally:
        served.stop()
