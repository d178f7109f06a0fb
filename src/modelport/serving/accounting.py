"""Per-request accounting: stage timings into statistics and, when tracing is on, into spans, and
the admission given back if the request fails before the service runs it. ``InferenceService.serve``
marks the stages, whatever the front-end; nothing here knows a wire format."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from modelport.core.errors import ModelportError
from modelport.core.inference import CallTiming, InferenceRequest
from modelport.monitoring.stats import InferenceStats
from modelport.monitoring.tracing import RequestTrace, Tracing

if TYPE_CHECKING:  # the service keeps the account: only the type is needed here
    from modelport.serving.service import Admission

__all__ = ["CANCELLED", "RequestAccount"]


class RequestAccount:
    __slots__ = (
        "_admission",
        "_call",
        "_decoded",
        "_offset",
        "_predicted",
        "_protocol",
        "_stats",
        "_target",
        "_trace",
        "_tracing",
        "started",
    )

    def __init__(
        self,
        protocol: str,
        target: str,
        admission: Admission,
        tracing: Tracing,
        carrier: Mapping[str, str] | None,
    ) -> None:
        """``carrier``: the request's headers (``traceparent``), read only when tracing."""
        self._protocol, self._target, self._tracing = protocol, target, tracing
        self._admission = admission
        self._stats: InferenceStats | None = admission.stats  # None when metrics are off
        self.started = admission.started  # one clock read for both
        self._decoded = self._predicted = self.started
        self._trace: RequestTrace | None = None
        self._call: CallTiming | None = None
        self._offset = 0
        if tracing.enabled:
            self._offset = time.time_ns() - self.started  # spans want wall-clock times
            self._trace = tracing.begin(carrier or {}, self.started + self._offset)

    def decoded(self, request: InferenceRequest) -> None:
        """The request is decoded; when tracing, it is asked to bring back its model call's times."""
        self._decoded = time.perf_counter_ns()
        if self._trace is not None:
            request.timing = self._call = CallTiming()

    def predicted(self) -> None:
        self._predicted = time.perf_counter_ns()

    def succeeded(self, served_by: str) -> None:
        done = time.perf_counter_ns()
        if self._stats is not None:
            self._stats.record_request(
                self._protocol, done - self.started, self._decoded - self.started, done - self._predicted
            )
        if self._trace is not None:
            for name, start, end in self._stages(done):
                self._trace.stage(name, start + self._offset, end + self._offset)
            attributes = {"modelport.target": self._target, "modelport.served_by": served_by}
            self._tracing.finish(self._trace, "infer", attributes, done + self._offset)

    def _stages(self, done: int) -> list[tuple[str, int, int]]:
        stages = [("decode", self.started, self._decoded)]
        call = self._call
        if call is not None and call.started_ns:  # batched: split waiting from the model call
            stages += [
                ("queue", self._decoded, call.started_ns),
                ("inference", call.started_ns, call.finished_ns),
            ]
        else:
            stages.append(("predict", self._decoded, self._predicted))
        stages.append(("encode", self._predicted, done))
        return stages

    def failed(self, error: BaseException) -> None:
        """Account a failure at any stage; the admission is released if the service never ran it.

        A cancellation is counted as ``CANCELLED``, not as a server error: it is the caller going
        away (a gRPC call cancelled or past its deadline), or a shutdown that stopped waiting."""
        self._admission.release()
        kind = _failure_kind(error)
        now = time.perf_counter_ns()
        if self._stats is not None:
            self._stats.record_failure(self._protocol, kind, now - self.started)
        if self._trace is not None:
            attributes = {"modelport.target": self._target}
            self._tracing.finish(self._trace, "infer", attributes, now + self._offset, error=kind)


CANCELLED = "CANCELLED"
"""The failure kind of a request cancelled before its answer (its caller went away)."""


def _failure_kind(error: BaseException) -> str:
    if isinstance(error, ModelportError):
        return error.kind.value
    return CANCELLED if isinstance(error, asyncio.CancelledError) else "INTERNAL"
