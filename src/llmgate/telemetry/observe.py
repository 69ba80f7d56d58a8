"""Turning a finished call into its row, and telling metrics and traces about it on the way.

``Observer.prepare`` is the recorder's ``prepare``: it builds the stored row (``to_row``) and,
with the parsed response in hand, counts the call in ``CallMetrics`` and hands it to OpenTelemetry
when export is on. It runs wherever rows are made (the writer process, or the gateway's
in-process recorder), never on the request path. Neither side effect can lose the row.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from llmgate.pricing import PriceBook
from llmgate.telemetry.call_record import CallRecord, to_row_parsed
from llmgate.telemetry.metrics import CallMetrics
from llmgate.telemetry.otel_settings import OtelSettings

if TYPE_CHECKING:
    from llmgate.telemetry.tracing import Tracing

log = logging.getLogger("llmgate.telemetry")


class Observer:
    """``prepare(call) -> row`` for a ``Recorder``, with metrics and spans as side effects.

    ``tracing`` is built on first use from ``otel`` (so a gateway whose writer process does the
    exporting never loads the OpenTelemetry SDK), unless one is given.
    """

    def __init__(
        self,
        prices: PriceBook,
        metrics: CallMetrics,
        otel: OtelSettings | None = None,
        *,
        tracing: Tracing | None = None,
    ) -> None:
        self.prices = prices
        self.metrics = metrics
        self._otel = otel or OtelSettings()
        self._tracing = tracing
        self._tracing_tried = tracing is not None

    @property
    def tracing(self) -> Tracing | None:
        if not self._tracing_tried:
            self._tracing_tried = True
            if self._otel.enabled:
                # the OpenTelemetry SDK: off the gateway's start-up unless tracing is on
                from llmgate.telemetry.tracing import tracing_from

                self._tracing = tracing_from(self._otel)
        return self._tracing

    def prepare(self, call: CallRecord) -> dict[str, Any]:
        row, parsed = to_row_parsed(call, self.prices)
        try:
            self.metrics.observe(call, row)
        except Exception:
            log.debug("could not count request %s in the metrics", call.id, exc_info=True)
        tracing = self.tracing
        if tracing is not None:
            tracing.record_call(call, row, parsed)
        return row

    def shutdown(self) -> None:
        if self._tracing is not None:
            self._tracing.shutdown()
