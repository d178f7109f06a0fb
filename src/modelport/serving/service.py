"""The protocol-neutral data plane: every front-end calls ``InferenceService.infer``."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from modelport.core.errors import NotFound
from modelport.core.inference import InferenceRequest, InferenceResponse
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

    def __init__(self, routing_table: Callable[[], RoutingTable], shadows: ShadowRunner) -> None:
        self._routing_table = routing_table
        self._shadows = shadows

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
        loaded = self.resolve(name, version, route_key)
        validate_request(request, loaded.signature, loaded.target)
        loaded.acquire()  # no await between resolving and acquiring: the version cannot be retired in between
        started = time.perf_counter()
        try:
            outputs = await loaded.predict(request.inputs)
        finally:
            loaded.release()
        if endpoint is not None and endpoint.shadows:
            self._mirror(endpoint, loaded, request, outputs, time.perf_counter() - started)
        return InferenceResponse(
            model_name=name,
            model_version=str(loaded.version),
            outputs=_select_outputs(outputs, request),
            id=request.id,
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


def _select_outputs(outputs: dict[str, np.ndarray], request: InferenceRequest) -> dict[str, np.ndarray]:
    if request.outputs is None:
        return outputs
    return {wanted.name: outputs[wanted.name] for wanted in request.outputs}
