"""Running a synchronous model off the event loop, in a bounded thread pool."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from concurrent.futures import Executor

import numpy as np

from modelport.core.errors import InternalError, ModelportError
from modelport.runtimes.base import LoadedModel

__all__ = ["InThreads"]

log = logging.getLogger(__name__)


class InThreads:
    """Calls ``model.predict`` in ``executor``; unexpected exceptions become ``InternalError``."""

    def __init__(self, model: LoadedModel, executor: Executor, target: str) -> None:
        self._model = model
        self._executor = executor
        self._target = target

    async def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, self._model.predict, inputs)
        except ModelportError:
            raise
        except Exception as exc:
            error = InternalError("the model failed to predict")
            log.error("predict failed on %s (error id %s)", self._target, error.error_id, exc_info=exc)
            raise error from exc
