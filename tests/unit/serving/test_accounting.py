"""``RequestAccount``: each request's stage timings in its version's statistics and, when tracing is
on, in one server span; the admission given back when a request fails before the service runs it.

Driven through ``InferenceService.serve`` (the real service, reconciler, statistics and tracing, a
small front-end whose steps can be made to fail), and directly with a fake clock where exact stage
arithmetic is checked."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from modelport.core import InferenceRequest, InferenceResponse, InvalidInput
from modelport.core.errors import InternalError, ModelportError, TooLarge
from modelport.core.settings import TracingSettings
from modelport.monitoring.book import OutcomeBook
from modelport.monitoring.stats import InferenceStats
from modelport.monitoring.tracing import Tracing
from modelport.serving import accounting
from modelport.serving.accounting import CANCELLED, RequestAccount
from modelport.serving.loaded import LoadedVersion
from modelport.serving.predictors import predictor_factory
from modelport.serving.reconciler import Reconciler
from modelport.serving.service import Admission, FrontEnd, InferenceService
from modelport.serving.shadow import ShadowRunner
from tests.unit.serving.fakes import FakeLoader, FakeRegistry, SumModel, model_snapshot, unused_payload_log

EXECUTOR = ThreadPoolExecutor(2)
PROTOCOL = "fake"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"

Call = Callable[[Admission, InferenceRequest], Awaitable[InferenceResponse]]


def good_request() -> InferenceRequest:
    return InferenceRequest(inputs={"x": np.array([[1.0, 2.0]], dtype=np.float32)})


@dataclass
class FakeFront:
    """A front-end whose wire is the decoded request; each step can be made to raise, and the reads
    of its carrier (headers) are counted."""

    headers: dict[str, str] = field(default_factory=dict)
    decode_error: BaseException | None = None
    encode_error: BaseException | None = None
    call: Call | None = None
    carrier_reads: int = 0
    decoded: list[InferenceRequest] = field(default_factory=list)

    def front(self) -> FrontEnd[InferenceRequest, InferenceResponse]:
        return FrontEnd(PROTOCOL, self._decode, self._encode, self._carrier, self.call)

    async def _decode(self, wire: InferenceRequest) -> InferenceRequest:
        if self.decode_error is not None:
            raise self.decode_error
        self.decoded.append(wire)
        return wire

    def _encode(self, response: InferenceResponse, request: InferenceRequest) -> InferenceResponse:
        if self.encode_error is not None:
            raise self.encode_error
        return response

    def _carrier(self, wire: InferenceRequest) -> Mapping[str, str]:
        self.carrier_reads += 1
        return self.headers


@dataclass
class World:
    """The real reconciler over two loaded versions of ``m`` (``SumModel``), and a traced service."""

    reconciler: Reconciler
    loader: FakeLoader
    tracing: Tracing
    spans: InMemorySpanExporter

    def service(self, statistics: bool = True, traced: bool = True) -> InferenceService:
        tracing = self.tracing if traced else Tracing(TracingSettings())
        return InferenceService(
            lambda: self.reconciler.table,
            ShadowRunner(),
            OutcomeBook(),
            unused_payload_log(),
            statistics=statistics,
            tracing=tracing,
        )

    def version(self, number: int) -> LoadedVersion:
        return self.reconciler.table.resolve("m", str(number))

    def finished_spans(self) -> list[ReadableSpan]:
        self.tracing.shutdown()  # flushes the batched spans to the exporter
        return list(self.spans.get_finished_spans())


@pytest.fixture
async def world() -> AsyncIterator[World]:
    registry, loader = FakeRegistry(), FakeLoader()
    reconciler = Reconciler(
        registry, loader, predictor_factory(EXECUTOR), poll_interval_s=0.01, drain_timeout_s=2
    )
    registry.publish(model_snapshot("m", [1, 2], {}, policy="all"))
    await reconciler.reconcile_once()
    exporter = InMemorySpanExporter()
    tracing = Tracing(TracingSettings(enabled=True), exporter=exporter)
    try:
        yield World(reconciler, loader, tracing, exporter)
    finally:
        tracing.shutdown()
        await reconciler.close()


def infer_span(spans: list[ReadableSpan]) -> ReadableSpan:
    (span,) = [s for s in spans if s.name == "infer"]
    return span


def stage_spans(spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    """The children of ``parent``, in the order their stages ran."""
    children = [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]
    return sorted(children, key=lambda s: (s.start_time or 0, s.end_time or 0))


def assert_untouched(stats: InferenceStats) -> None:
    assert (stats.success.count, stats.fail.count) == (0, 0)
    assert not stats.by_protocol
    assert not stats.failures
    assert stats.stages["compute_input"].count == stats.stages["compute_output"].count == 0
    assert sum(stats.latency_buckets) == 0


# --- statistics -------------------------------------------------------------------------------


async def test_a_success_is_one_success_of_its_version_and_protocol_with_consistent_stage_times(
    world: World,
) -> None:
    """A served request adds one success (and no failure) to the statistics of the version it ran on,
    under its protocol, with non-negative stage times that fit inside its latency."""
    front = FakeFront()
    response = await world.service(traced=False).serve(front.front(), good_request(), "m", "1")
    assert response.outputs["total"].tolist() == [4.0]  # 1 + 2 + the version's offset 1

    stats = world.version(1).stats
    assert (stats.success.count, stats.fail.count) == (1, 0)
    assert stats.by_protocol == {PROTOCOL: 1}
    assert not stats.failures
    assert sum(stats.latency_buckets) == 1
    stages = [stats.stages[name] for name in ("queue", "compute_input", "compute_infer", "compute_output")]
    assert all(totals.count == 1 for totals in stages)  # queue and compute_infer: the batcher's
    assert all(totals.ns >= 0 for totals in stages)
    assert stats.success.ns > 0
    assert sum(totals.ns for totals in stages) <= stats.success.ns  # disjoint parts of the latency
    assert_untouched(world.version(2).stats)  # the other version saw nothing


@pytest.mark.parametrize(
    ("point", "kind"),
    [
        ("decode", "INVALID_INPUT"),
        ("run-validation", "INVALID_INPUT"),
        ("run-model", "INTERNAL"),
        ("call", "INTERNAL"),
        ("encode-ours", "TOO_LARGE"),
        ("encode-unexpected", "INTERNAL"),
    ],
)
async def test_a_failure_at_each_point_is_one_failure_of_its_kind_and_releases_the_admission_once(
    world: World, point: str, kind: str
) -> None:
    """A request failing while decoded, run (invalid input, the model raising, a front-end's own call
    that raises before releasing), or encoded counts one failure of the error's kind and no success,
    and its version's in-flight count is back to zero (released once: not left at 1, not at -1)."""
    front, request = FakeFront(), good_request()
    if point == "decode":
        front.decode_error = InvalidInput("not a request")
    elif point == "run-validation":
        request = InferenceRequest(inputs={"x": np.array([[1.0, 2.0, 3.0]], dtype=np.float32)})
    elif point == "run-model":
        world.loader.models[("m", 1)].closed = True  # SumModel raises RuntimeError
    elif point == "call":

        async def explode(admission: Admission, request: InferenceRequest) -> InferenceResponse:
            raise RuntimeError("the call failed before releasing its admission")

        front.call = explode
    elif point == "encode-ours":
        front.encode_error = TooLarge("the answer is too large")
    else:
        front.encode_error = ValueError("cannot encode")
    version = world.version(1)
    assert version.in_flight == 0

    with pytest.raises(ModelportError) as raised:
        await world.service(traced=False).serve(front.front(), request, "m", "1")
    assert raised.value.kind.value == kind
    if kind == "INTERNAL":
        assert isinstance(raised.value, InternalError)

    assert version.in_flight == 0
    stats = version.stats
    assert (stats.success.count, stats.fail.count) == (0, 1)
    assert stats.failures == {kind: 1}
    assert stats.by_protocol == {PROTOCOL: 1}
    assert stats.fail.ns > 0
    assert stats.stages["compute_input"].count == stats.stages["compute_output"].count == 0
    assert sum(stats.latency_buckets) == 0


async def test_a_cancelled_request_releases_its_admission_and_is_counted_as_cancelled(
    world: World,
) -> None:
    """A cancellation (not an ``Exception``) while decoding still gives the admission back, is
    accounted as ``CANCELLED`` (the caller went away; not a server error), and leaves ``serve`` as
    the cancellation itself."""
    front = FakeFront(decode_error=asyncio.CancelledError())
    version = world.version(1)
    with pytest.raises(asyncio.CancelledError):
        await world.service(traced=False).serve(front.front(), good_request(), "m", "1")
    assert version.in_flight == 0
    assert (version.stats.success.count, version.stats.fail.count) == (0, 1)
    assert version.stats.failures == {CANCELLED: 1}


async def test_a_caller_gone_during_the_model_call_is_cancelled_not_internal(world: World) -> None:
    """The serving task cancelled while the model call waits (what grpcio does when a client cancels
    or its deadline passes): one ``CANCELLED`` failure, its span in error with that kind, and the
    admission given back."""
    started = asyncio.Event()

    async def never_answers(admission: Admission, request: InferenceRequest) -> InferenceResponse:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            admission.release()
        raise AssertionError("unreachable")

    front = FakeFront(call=never_answers)
    task = asyncio.create_task(world.service().serve(front.front(), good_request(), "m", "1"))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    version = world.version(1)
    assert version.in_flight == 0
    assert version.stats.failures == {CANCELLED: 1}
    span = infer_span(world.finished_spans())
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == CANCELLED


async def test_with_metrics_off_nothing_is_recorded_and_nothing_fails(world: World) -> None:
    """``statistics=False`` (``admission.stats is None``): successes and failures are served and
    released as usual, and the version's request statistics stay empty."""
    service = world.service(statistics=False, traced=False)
    response = await service.serve(FakeFront().front(), good_request(), "m", "1")
    assert response.outputs["total"].tolist() == [4.0]
    with pytest.raises(InvalidInput):
        await service.serve(FakeFront(decode_error=InvalidInput("bad")).front(), good_request(), "m", "1")
    with pytest.raises(TooLarge):
        await service.serve(FakeFront(encode_error=TooLarge("big")).front(), good_request(), "m", "1")

    version = world.version(1)
    assert version.in_flight == 0
    assert_untouched(version.stats)


# --- tracing ----------------------------------------------------------------------------------


async def test_a_traced_success_is_one_server_span_with_its_stages_in_order(world: World) -> None:
    """With tracing on, a served request gives exactly one ``infer`` server span naming its target and
    the version that answered, not in error, with the batched stages (decode, queue, inference,
    encode) as children, in order and inside it; the request was given a ``CallTiming``."""
    front = FakeFront()
    await world.service().serve(front.front(), good_request(), "m", "1")
    assert front.carrier_reads == 1
    (decoded,) = front.decoded
    assert decoded.timing is not None and decoded.timing.started_ns > 0

    spans = world.finished_spans()
    span = infer_span(spans)
    assert span.kind is SpanKind.SERVER
    assert dict(span.attributes or {}) == {"modelport.target": "m", "modelport.served_by": "m:1"}
    assert span.status.status_code is StatusCode.UNSET
    assert span.parent is None  # no traceparent: a trace of its own
    stages = stage_spans(spans, span)
    assert [s.name for s in stages] == ["decode", "queue", "inference", "encode"]
    assert len(spans) == 1 + len(stages)
    bounds = [(s.start_time or 0, s.end_time or 0) for s in stages]
    assert all(start <= end for start, end in bounds)
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in itertools.pairwise(bounds))
    assert span.start_time == bounds[0][0]  # the span starts at admission, when decoding starts
    assert span.end_time == bounds[-1][1]  # and ends when the answer is encoded
    assert all(s.context.trace_id == span.context.trace_id for s in stages)


async def test_a_traced_call_in_place_of_the_run_has_a_predict_stage(world: World) -> None:
    """When the front-end's own ``call`` answers (no batched model call fills the request's timing),
    the span's stages are decode, predict, encode."""

    async def answer(admission: Admission, request: InferenceRequest) -> InferenceResponse:
        admission.release()
        return InferenceResponse("m", "1", {"total": np.zeros(1, dtype=np.float32)})

    await world.service().serve(FakeFront(call=answer).front(), good_request(), "m", "1")
    spans = world.finished_spans()
    span = infer_span(spans)
    assert [s.name for s in stage_spans(spans, span)] == ["decode", "predict", "encode"]
    assert world.version(1).in_flight == 0


@pytest.mark.parametrize(
    ("point", "kind"), [("decode", "INVALID_INPUT"), ("run", "INVALID_INPUT"), ("encode", "INTERNAL")]
)
async def test_a_traced_failure_is_one_span_in_error_with_its_kind(
    world: World, point: str, kind: str
) -> None:
    """A failing request's span is in error, its status describing the error's kind, names the target
    but no ``served_by`` (nothing answered), and has no stage spans."""
    front, request = FakeFront(), good_request()
    if point == "decode":
        front.decode_error = InvalidInput("not a request")
    elif point == "run":
        request = InferenceRequest(inputs={"x": np.array([[np.nan, 1.0]], dtype=np.float32)})
    else:
        front.encode_error = ValueError("cannot encode")
    with pytest.raises(ModelportError):
        await world.service().serve(front.front(), request, "m", "1")

    spans = world.finished_spans()
    assert len(spans) == 1
    span = infer_span(spans)
    assert span.kind is SpanKind.SERVER
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == kind
    assert dict(span.attributes or {}) == {"modelport.target": "m"}
    assert world.version(1).stats.failures == {kind: 1}


async def test_a_traceparent_makes_the_span_a_child_of_the_callers_trace(world: World) -> None:
    """A W3C ``traceparent`` in the carrier puts the span in the caller's trace, under its span."""
    front = FakeFront(headers={"traceparent": TRACEPARENT})
    await world.service().serve(front.front(), good_request(), "m", "1")
    spans = world.finished_spans()
    span = infer_span(spans)
    assert span.context.trace_id == int(TRACE_ID, 16)
    assert span.parent is not None and span.parent.span_id == int(PARENT_ID, 16)
    assert span.parent.is_remote
    assert all(s.context.trace_id == int(TRACE_ID, 16) for s in spans)


async def test_with_tracing_off_no_span_no_carrier_read_no_call_timing(world: World) -> None:
    """Tracing off costs nothing: the carrier is never asked for, the request gets no ``CallTiming``,
    and no span is made, for a success or a failure."""
    service = world.service(traced=False)
    front = FakeFront(headers={"traceparent": TRACEPARENT})
    await service.serve(front.front(), good_request(), "m", "1")
    failing = FakeFront(headers={"traceparent": TRACEPARENT}, encode_error=TooLarge("big"))
    with pytest.raises(TooLarge):
        await service.serve(failing.front(), good_request(), "m", "1")
    assert front.carrier_reads == failing.carrier_reads == 0
    assert [r.timing for r in front.decoded + failing.decoded] == [None, None]
    assert world.finished_spans() == []
    assert world.version(1).stats.success.count == 1  # the requests were accounted all the same


# --- RequestAccount directly, on a fake clock ---------------------------------------------------


class Clock:
    """``perf_counter_ns`` and ``time_ns`` for the accounting module: each read returns the next tick
    given (``perf``), and wall-clock time is ``WALL`` ahead of it."""

    WALL = 1_700_000_000_000_000_000

    def __init__(self) -> None:
        self.ticks: list[int] = []
        self.now = 0

    def perf_counter_ns(self) -> int:
        self.now = self.ticks.pop(0)
        return self.now

    def time_ns(self) -> int:
        return self.now + self.WALL


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    fake = Clock()
    namespace = SimpleNamespace(perf_counter_ns=fake.perf_counter_ns, time_ns=fake.time_ns)
    monkeypatch.setattr(accounting, "time", namespace)
    yield fake


def admitted(version: LoadedVersion, started: int, stats: InferenceStats | None) -> Admission:
    """An admission as ``InferenceService.admit`` makes it: the version counted in."""
    version.acquire()
    return Admission("m", version, None, None, started, stats=stats)


def fresh_version() -> LoadedVersion:
    return LoadedVersion("m", 1, "fake", "m-1", SumModel())


def test_stage_times_are_exact_differences_of_the_marks(clock: Clock) -> None:
    """latency = done - admitted, compute_input = decoded - admitted, compute_output = done -
    predicted; the admission is left to the service on success."""
    version = fresh_version()
    admission = admitted(version, 1_000, version.stats)
    account = RequestAccount(PROTOCOL, "m", admission, Tracing(TracingSettings()), None)
    clock.ticks = [1_300, 1_700, 2_600]
    account.decoded(good_request())
    account.predicted()
    account.succeeded("m:1")

    stats = version.stats
    assert (stats.success.count, stats.success.ns) == (1, 1_600)
    assert stats.stages["compute_input"].to_dict() == {"count": 1, "ns": 300}
    assert stats.stages["compute_output"].to_dict() == {"count": 1, "ns": 900}
    assert stats.by_protocol == {PROTOCOL: 1}
    assert version.in_flight == 1 and not admission.released  # the service's run releases it


def test_a_failure_before_the_run_releases_once_and_counts_its_latency(clock: Clock) -> None:
    """``failed`` gives the admission back (a second release is a no-op) and counts the time since
    admission as the failure's latency under the error's kind."""
    version = fresh_version()
    admission = admitted(version, 1_000, version.stats)
    account = RequestAccount(PROTOCOL, "m", admission, Tracing(TracingSettings()), None)
    clock.ticks = [1_250]
    account.failed(InvalidInput("bad"))
    assert admission.released and version.in_flight == 0
    admission.release()
    assert version.in_flight == 0
    assert (version.stats.fail.count, version.stats.fail.ns) == (1, 250)
    assert version.stats.failures == {"INVALID_INPUT": 1}


def test_traced_stage_spans_carry_the_marks_on_the_wall_clock(clock: Clock) -> None:
    """The span and its stages are the perf-counter marks moved onto the wall clock by one offset:
    batched, decode / queue / inference / encode split at the model call's own times."""
    exporter = InMemorySpanExporter()
    tracing = Tracing(TracingSettings(enabled=True), exporter=exporter)
    version = fresh_version()
    admission = admitted(version, 1_000, None)
    clock.now = 1_000  # the offset is read at admission time
    account = RequestAccount(PROTOCOL, "m", admission, tracing, {"traceparent": TRACEPARENT})
    request = good_request()
    clock.ticks = [1_100, 1_900, 2_000]
    account.decoded(request)
    assert request.timing is not None
    request.timing.started_ns, request.timing.finished_ns = 1_300, 1_800  # as the batcher fills it
    account.predicted()
    account.succeeded("m:1")
    tracing.shutdown()

    spans = list(exporter.get_finished_spans())
    span = infer_span(spans)
    wall = Clock.WALL
    assert (span.start_time, span.end_time) == (wall + 1_000, wall + 2_000)
    assert [(s.name, s.start_time, s.end_time) for s in stage_spans(spans, span)] == [
        ("decode", wall + 1_000, wall + 1_100),
        ("queue", wall + 1_100, wall + 1_300),
        ("inference", wall + 1_300, wall + 1_800),
        ("encode", wall + 1_900, wall + 2_000),
    ]
    assert span.context.trace_id == int(TRACE_ID, 16)
    assert_untouched(version.stats)  # metrics off: nothing recorded
