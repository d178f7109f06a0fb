"""The protocol-neutral data plane: every front-end calls ``InferenceService.serve``.

A front-end knows its wire format and nothing else: it hands ``serve`` its decode and encode steps
(a ``FrontEnd``) and maps the ``ModelportError`` that may come back to its protocol's error shape.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

from modelport.core.errors import ErrorKind, InternalError, ModelportError, NotFound
from modelport.core.inference import InferenceRequest, InferenceResponse, check_request_id
from modelport.core.monitor_config import MonitorConfig
from modelport.core.settings import TracingSettings
from modelport.core.tensors import Signature
from modelport.monitoring.book import OutcomeBook
from modelport.monitoring.payloads import PayloadLog, PayloadRecord
from modelport.monitoring.stats import InferenceStats
from modelport.monitoring.tracing import Tracing
from modelport.serving.accounting import RequestAccount
from modelport.serving.classification import check_classification, classify
from modelport.serving.endpoints import EndpointRoutes
from modelport.serving.loaded import LoadedVersion
from modelport.serving.shadow import ShadowRunner
from modelport.serving.table import RoutingTable
from modelport.serving.validation import validate_request

__all__ = ["SERVED_BY", "Admission", "FrontEnd", "InferenceService"]

log = logging.getLogger(__name__)

SERVED_BY = "served_by"
"""Response parameter (and ``x-modelport-served-by`` header) naming the version that answered."""

Wire = TypeVar("Wire")
"""What a front-end received (an HTTP request, a gRPC message and its context)."""
Answer = TypeVar("Answer")
"""What it sends back (an HTTP response, a gRPC message)."""


@dataclass(frozen=True, slots=True)
class FrontEnd(Generic[Wire, Answer]):
    """A protocol's part of a request: how to read it and how to write its answer.

    Built once per front-end, so ``serve`` costs no allocation per request for it."""

    protocol: str
    """Its label in statistics and metrics (``rest``, ``grpc``)."""
    decode: Callable[[Wire], Awaitable[InferenceRequest]]
    """Read and decode the request (after admission: a request to shed is never read)."""
    encode: Callable[[InferenceResponse, InferenceRequest], Answer]
    """The answer to the decoded request; a failure here is accounted as any other."""
    carrier: Callable[[Wire], Mapping[str, str]]
    """The request's headers (``traceparent``), asked for only when tracing."""
    call: Callable[[Admission, InferenceRequest], Awaitable[InferenceResponse]] | None = None
    """What answers the decoded request in place of the model's prediction (``run``), such as an
    explanation; it must release the admission."""


@dataclass(slots=True)
class Admission:
    """A request counted in on a version; ``release`` exactly once (``run`` does)."""

    name: str
    version: LoadedVersion
    endpoint: EndpointRoutes | None
    label: str | None
    """The endpoint's variant, as configured (``iris@candidate``)."""
    started: int
    """``time.perf_counter_ns()`` at admission: where the request's latency and its account start."""
    released: bool = False
    monitor: MonitorConfig | None = None
    """The payload-log settings that apply, read with the routing table."""
    stats: InferenceStats | None = None
    """Where the front-end accounts for the request: the version's statistics, ``None`` with metrics off."""

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.version.release()


class InferenceService:
    """Routes a request to a loaded version (directly or through an endpoint), validates it, runs it,
    mirrors it to the endpoint's shadows, and offers a sample of it to the payload log."""

    def __init__(
        self,
        routing_table: Callable[[], RoutingTable],
        shadows: ShadowRunner,
        outcomes: OutcomeBook,
        payloads: PayloadLog,
        statistics: bool = True,
        tracing: Tracing | None = None,
    ) -> None:
        """``statistics``: requests are counted in their version's statistics (metrics on).
        ``tracing``: where ``serve`` sends its spans (none by default)."""
        self._statistics = statistics
        self._tracing = tracing if tracing is not None else Tracing(TracingSettings())
        self._routing_table = routing_table
        self._shadows = shadows
        self._outcomes = outcomes
        self._payloads = payloads

    def admit(self, name: str, version: str | None, route_key: str | None = None) -> Admission:
        """Choose the version a request runs on and count it in, before its body is read or decoded.

        Refused at once (``Overloaded``) when the version is at its latency target's limit.
        """
        table = self._routing_table()
        endpoint = table.endpoint(name)
        if endpoint is None:
            loaded, label = table.resolve(name, version), None
        elif version:
            raise NotFound(f"{name!r} is an endpoint; call it without a version")
        else:
            variant = endpoint.choose(route_key)
            loaded, label = variant.version, variant.label
        if loaded.predictor is not None:
            loaded.predictor.admit(loaded.in_flight)
        loaded.acquire()  # no await since reading the table: the version cannot be retired in between
        monitor = table.sampling(name, loaded.model) if table.monitors else None
        stats = loaded.stats if self._statistics else None
        return Admission(name, loaded, endpoint, label, time.perf_counter_ns(), monitor=monitor, stats=stats)

    async def serve(
        self,
        front: FrontEnd[Wire, Answer],
        wire: Wire,
        name: str,
        version: str | None,
        route_key: str | None = None,
    ) -> Answer:
        """Answer one request of any protocol: admit, decode, run, encode, and account for it.

        The one sequence every front-end would otherwise repeat, so each step's failure (the encode
        step's too) is counted in the statistics and ends the span the same way. Errors leave as
        ``ModelportError``: an unexpected exception is logged under an error id and becomes
        ``InternalError``; the front-end maps them to its protocol's error shape.
        """
        admission = self.admit(name, version, route_key)  # before decoding: shedding costs nothing more
        tracing = self._tracing
        carrier = front.carrier(wire) if tracing.enabled else None
        account = RequestAccount(front.protocol, name, admission, tracing, carrier)
        try:
            request = await front.decode(wire)
            account.decoded(request)
            call = front.call
            if call is None:
                response = await self.run(admission, request)
            else:
                response = await call(admission, request)
            account.predicted()
            answer = front.encode(response, request)
        except BaseException as error:
            account.failed(error)
            if isinstance(error, ModelportError) or not isinstance(error, Exception):
                raise  # ours, or a cancellation
            raise _internal(error) from None
        account.succeeded(admission.version.target)
        return answer

    async def run(self, admission: Admission, request: InferenceRequest) -> InferenceResponse:
        """Validate, predict, account for the request; ``admission`` is released whatever happens."""
        loaded, endpoint = admission.version, admission.endpoint
        outcome_id = (request.id or uuid.uuid4().hex) if endpoint is not None else ""  # for feedback
        try:
            if request.id is not None:
                check_request_id(request.id)
            validate_request(request, loaded.signature, loaded.target)
            wanted = request.outputs
            classified = wanted is not None and check_classification(wanted, loaded.signature)
            outputs = await loaded.predict(request.inputs, request.timing)
        except ModelportError as error:
            if admission.label is not None and error.kind is not ErrorKind.INVALID_INPUT:
                outcomes = self._outcomes.endpoint(admission.name)
                outcomes.record(outcome_id, admission.label, True, 0.0, None, _revision(admission))
            raise
        finally:
            admission.release()
        latency_s = (time.perf_counter_ns() - admission.started) / 1e9
        if loaded.predictor is not None:
            loaded.predictor.observe_request(latency_s)
        monitor, logged = admission.monitor, None
        if monitor is not None and self._payloads.sampled(monitor.sample_rate):
            logged = self._log(admission, request, outputs, latency_s, outcome_id, monitor)
        if endpoint is not None and admission.label is not None:
            outcomes = self._outcomes.endpoint(admission.name)
            outcomes.record(
                outcome_id, admission.label, False, latency_s, _prediction(outputs), endpoint.revision
            )
            if endpoint.shadows:
                self._mirror(endpoint, loaded, request, outputs, latency_s, logged)
        return InferenceResponse(
            model_name=admission.name,
            model_version=str(loaded.version),
            outputs=_select_outputs(outputs, request, loaded.signature if classified else None),
            id=request.id if endpoint is None else outcome_id,
            parameters={SERVED_BY: loaded.target},
        )

    def _log(
        self,
        admission: Admission,
        request: InferenceRequest,
        outputs: dict[str, np.ndarray],
        latency_s: float,
        outcome_id: str,
        monitor: MonitorConfig,
    ) -> PayloadRecord | None:
        """Offer the request to the payload log (references to its arrays); the record if accepted."""
        record_id = self._payloads.record_id()
        loaded = admission.version
        record = PayloadRecord(
            record_id=record_id,
            request_id=outcome_id or request.id or record_id,
            time=time.time(),
            name=admission.name,
            endpoint=None if admission.endpoint is None else admission.name,
            model=loaded.model,
            version=loaded.version,
            latency_ms=latency_s * 1000,
            inputs=request.inputs,
            outputs=outputs,
            redact=monitor.redact,
        )
        return record if self._payloads.offer(record) else None

    def _mirror(
        self,
        endpoint: EndpointRoutes,
        primary: LoadedVersion,
        request: InferenceRequest,
        outputs: dict[str, np.ndarray],
        latency_s: float,
        logged: PayloadRecord | None,
    ) -> None:
        for shadow in endpoint.shadows:
            if self._shadows.sampled(shadow.fraction):
                self._shadows.offer(
                    endpoint.name, primary.target, shadow, request.inputs, outputs, latency_s, logged
                )


def _internal(exc: Exception) -> InternalError:
    """The error the caller sees for an unexpected exception: an id; the log has the cause."""
    error = InternalError()
    log.error("unhandled error (error id %s)", error.error_id, exc_info=exc)
    return error


def _prediction(outputs: dict[str, np.ndarray]) -> np.ndarray | None:
    """What feedback is judged against: the first label-like output, else the first output (a copy)."""
    chosen = next((a for a in outputs.values() if a.dtype.kind in "iubOSU"), None)
    if chosen is None:
        chosen = next(iter(outputs.values()), None)
    return None if chosen is None else np.array(chosen, copy=True)


def _select_outputs(
    outputs: dict[str, np.ndarray], request: InferenceRequest, classifier: Signature | None
) -> dict[str, np.ndarray]:
    """The requested outputs (all by default); with ``classifier``, some are asked as top classes."""
    if request.outputs is None:
        return outputs
    selected = {wanted.name: outputs[wanted.name] for wanted in request.outputs}
    return selected if classifier is None else classify(selected, request.outputs, classifier)


def _revision(admission: Admission) -> int:
    return admission.endpoint.revision if admission.endpoint is not None else 0
