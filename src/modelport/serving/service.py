"""The protocol-neutral data plane: every front-end calls ``InferenceService.infer``."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from modelport.core.inference import InferenceRequest, InferenceResponse
from modelport.serving.loaded import LoadedVersion, RoutingTable
from modelport.serving.validation import validate_request

__all__ = ["InferenceService"]


class InferenceService:
    """Routes a request to a loaded version, validates it, and hands it to that version's batcher."""

    def __init__(self, routing_table: Callable[[], RoutingTable]) -> None:
        self._routing_table = routing_table

    def resolve(self, model: str, version: str | None) -> LoadedVersion:
        return self._routing_table().resolve(model, version)

    async def infer(self, model: str, version: str | None, request: InferenceRequest) -> InferenceResponse:
        loaded = self.resolve(model, version)
        validate_request(request, loaded.signature, loaded.target)
        loaded.acquire()  # no await between resolving and acquiring: the version cannot be retired in between
        try:
            outputs = await loaded.predict(request.inputs)
        finally:
            loaded.release()
        return InferenceResponse(
            model_name=loaded.model,
            model_version=str(loaded.version),
            outputs=_select_outputs(outputs, request),
            id=request.id,
        )


def _select_outputs(outputs: dict[str, np.ndarray], request: InferenceRequest) -> dict[str, np.ndarray]:
    if request.outputs is None:
        return outputs
    return {wanted.name: outputs[wanted.name] for wanted in request.outputs}
