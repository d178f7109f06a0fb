"""The protocol-neutral data plane: every front-end calls ``InferenceService.infer``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from modelport.core.errors import InternalError, ModelportError
from modelport.core.inference import InferenceRequest, InferenceResponse
from modelport.serving.loaded import LoadedVersion, RoutingTable
from modelport.serving.validation import validate_request

__all__ = ["InferenceService"]

log = logging.getLogger(__name__)


class InferenceService:
    """Routes a request to a loaded version, validates it, and runs the model in a bounded pool."""

    def __init__(self, routing_table: Callable[[], RoutingTable], threads: int) -> None:
        self._routing_table = routing_table
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="modelport-infer")

    def resolve(self, model: str, version: str | None) -> LoadedVersion:
        return self._routing_table().resolve(model, version)

    async def infer(self, model: str, version: str | None, request: InferenceRequest) -> InferenceResponse:
        loaded = self.resolve(model, version)
        validate_request(request, loaded.signature, loaded.target)
        loaded.acquire()  # no await between resolving and acquiring: the version cannot be retired in between
        try:
            outputs = await asyncio.get_running_loop().run_in_executor(
                self._executor, loaded.runtime_model.predict, request.inputs
            )
        except ModelportError:
            raise
        except Exception as exc:
            error = InternalError("the model failed to predict")
            log.exception("predict failed on %s (error id %s)", loaded.target, error.error_id, exc_info=exc)
            raise error from exc
        finally:
            loaded.release()
        return InferenceResponse(
            model_name=loaded.model,
            model_version=str(loaded.version),
            outputs=_select_outputs(outputs, request),
            id=request.id,
        )

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


def _select_outputs(outputs: dict[str, np.ndarray], request: InferenceRequest) -> dict[str, np.ndarray]:
    if request.outputs is None:
        return outputs
    return {wanted.name: outputs[wanted.name] for wanted in request.outputs}
