"""The protocol-neutral data plane: every front-end calls ``InferenceService.infer``."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import numpy as np

from modelport.core.errors import ErrorKind, ModelportError, NotFound
from modelport.core.inference import InferenceRequest, InferenceResponse
from modelport.monitoring.book import OutcomeBook
from modelport.serving.endpoints import EndpointRoutes
from modelport.serving.loaded import LoadedVersion
from modelport.serving.shadow import ShadowRunner
from modelport.serving.table import RoutingTable
from modelport.serving.validation import validate_request

__all__ = ["SERVED_BY", "InferenceService"]

SERVED_BY = "served_by"
"""Response parameter (and ``x-modelport-served-by`` header) naming the version that answered."""


class InferenceService:
    """Routes a request to a loaded version (directly or through an endpoint), validates it, runs it,
    and mirrors it to the endpoint's shadows."""

    def __init__(
        self, routing_table: Callable[[], RoutingTable], shadows: ShadowRunner, outcomes: OutcomeBook
    ) -> None:
        self._routing_table = routing_table
        self._shadows = shadows
        self._outcomes = outcomes

    def resolve(self, name: str, version: str | None, route_key: str | None = None) -> LoadedVersion:
        """The version a request for ``name`` (a model or an endpoint) would run on."""
        table = self._routing_table()
        endpoint = table.endpoint(name)
        if endpoint is None:
            return table.resolve(name, version)
        if version:
            raise NotFound(f"{name!r} is an endpoint; call it without a version")
        return endpoint.choose(route_key).version

    async def infer(
        self, name: str, version: str | None, request: InferenceRequest, route_key: str | None = None
    ) -> InferenceResponse:
        table = self._routing_table()
        endpoint = table.endpoint(name)
        if endpoint is None:
            loaded = table.resolve(name, version)
            outputs, _ = await self._run(loaded, request)
            return self._response(name, loaded, request, outputs, request.id)
        if version:
            raise NotFound(f"{name!r} is an endpoint; call it without a version")
        variant = endpoint.choose(route_key)
        request_id = request.id or uuid.uuid4().hex
        outcomes = self._outcomes.endpoint(name)
        try:
            outputs, latency_s = await self._run(variant.version, request)
        except ModelportError as error:
            if error.kind is not ErrorKind.INVALID_INPUT:  # the caller's mistake says nothing of the variant
                outcomes.record(request_id, variant.label, True, 0.0, None)
            raise
        outcomes.record(request_id, variant.label, False, latency_s, _prediction(outputs))
        if endpoint.shadows:
            self._mirror(endpoint, variant.version, request, outputs, latency_s)
        return self._response(name, variant.version, request, outputs, request_id)

    async def _run(
        self, loaded: LoadedVersion, request: InferenceRequest
    ) -> tuple[dict[str, np.ndarray], float]:
        validate_request(request, loaded.signature, loaded.target)
        loaded.acquire()  # no await between resolving and acquiring: the version cannot be retired in between
        started = time.perf_counter()
        try:
            outputs = await loaded.predict(request.inputs)
        finally:
            loaded.release()
        return outputs, time.perf_counter() - started

    @staticmethod
    def _response(
        name: str,
        loaded: LoadedVersion,
        request: InferenceRequest,
        outputs: dict[str, np.ndarray],
        request_id: str | None,
    ) -> InferenceResponse:
        return InferenceResponse(
            model_name=name,
            model_version=str(loaded.version),
            outputs=_select_outputs(outputs, request),
            id=request_id,
            parameters={SERVED_BY: loaded.target},
        )

    def _mirror(
        self,
        endpoint: EndpointRoutes,
        primary: LoadedVersion,
        request: InferenceRequest,
        outputs: dict[str, np.ndarray],
        latency_s: float,
    ) -> None:
        for shadow in endpoint.shadows:
            if self._shadows.sampled(shadow.fraction):
                self._shadows.offer(endpoint.name, primary.target, shadow, request.inputs, outputs, latency_s)


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
