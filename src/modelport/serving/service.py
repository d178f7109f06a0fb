"""The protocol-neutral data plane: every front-end calls ``InferenceService.infer``."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from modelport.core.errors import ErrorKind, ModelportError, NotFound
from modelport.core.inference import InferenceRequest, InferenceResponse, check_request_id
from modelport.core.monitor_config import MonitorConfig
from modelport.monitoring.book import OutcomeBook
from modelport.monitoring.payloads import PayloadLog, PayloadRecord
from modelport.monitoring.stats import InferenceStats
from modelport.serving.endpoints import EndpointRoutes
from modelport.serving.loaded import LoadedVersion
from modelport.serving.shadow import ShadowRunner
from modelport.serving.table import RoutingTable
from modelport.serving.validation import validate_request

__all__ = ["SERVED_BY", "Admission", "InferenceService"]

SERVED_BY = "served_by"
"""Response parameter (and ``x-modelport-served-by`` header) naming the version that answered."""


@dataclass(slots=True)
class Admission:
    """A request counted in on a version; ``release`` exactly once (``run`` does)."""

    name: str
    version: LoadedVersion
    endpoint: EndpointRoutes | None
    label: str | None
    """The endpoint's variant, as configured (``iris@candidate``)."""
    started: float
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
    ) -> None:
        """``statistics``: requests are counted in their version's statistics (metrics on)."""
        self._statistics = statistics
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
        return Admission(name, loaded, endpoint, label, time.perf_counter(), monitor=monitor, stats=stats)

    async def infer(
        self, name: str, version: str | None, request: InferenceRequest, route_key: str | None = None
    ) -> InferenceResponse:
        return await self.run(self.admit(name, version, route_key), request)

    async def run(self, admission: Admission, request: InferenceRequest) -> InferenceResponse:
        """Validate, predict, account for the request; ``admission`` is released whatever happens."""
        loaded, endpoint = admission.version, admission.endpoint
        outcome_id = (request.id or uuid.uuid4().hex) if endpoint is not None else ""  # for feedback
        try:
            check_request_id(request.id)
            validate_request(request, loaded.signature, loaded.target)
            outputs = await loaded.predict(request.inputs, request.timing)
        except ModelportError as error:
            if admission.label is not None and error.kind is not ErrorKind.INVALID_INPUT:
                outcomes = self._outcomes.endpoint(admission.name)
                outcomes.record(outcome_id, admission.label, True, 0.0, None, _revision(admission))
            raise
        finally:
            admission.release()
        latency_s = time.perf_counter() - admission.started
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
            outputs=_select_outputs(outputs, request),
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


def _prediction(outputs: dict[str, np.ndarray]) -> np.ndarray | None:
    """What feedback is judged against: the first label-like output, else the first output (a copy)."""
    chosen = next((a for a in outputs.values() if a.dtype.kind in "iubOSU"), None)
    if chosen is None:
        chosen = next(iter(outputs.values()), None)
    return None if chosen is None else np.array(chosen, copy=True)


def _select_outputs(outputs: dict[str, np.ndarray], request: InferenceRequest) -> dict[str, np.ndarray]:
    if request.outputs is None:
        return outputs
    return {wanted.name: outputs[wanted.name] for wanted in request.outputs}


def _revision(admission: Admission) -> int:
    return admission.endpoint.revision if admission.endpoint is not None else 0
