"""Running a synchronous model call: in a bounded thread pool, or inline when it is cheaper.

Handing a call to a thread and back costs the event loop tens of microseconds (a wake-up, a
cross-thread callback, a future). For a model that answers in less than that, running it on the
loop blocks the loop for *less* time than the hand-off would. The runner keeps a moving average
of each model's call time and runs it inline only while that average is under ``inline_below_s``;
one slow call pushes the average up and later calls go back to the pool.

A model served from a confined child (``IsolatedModel``) never runs inline, however fast: its call
waits on a pipe, up to its deadline if the child hangs, and the loop must never wait with it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from concurrent.futures import Executor

import numpy as np

from modelport.core.errors import InternalError, ModelportError
from modelport.runtimes.base import LoadedModel
from modelport.runtimes.isolation import IsolatedModel

__all__ = ["ModelRunner"]

log = logging.getLogger(__name__)
Tensors = dict[str, np.ndarray]
_SMOOTHING = 0.1


class ModelRunner:
    def __init__(
        self, model: LoadedModel, executor: Executor, target: str, inline_below_s: float = 0.0
    ) -> None:
        self._model = model
        self._executor = executor
        self._target = target
        self._inline_below_s = 0.0 if isinstance(model, IsolatedModel) else inline_below_s
        self._average_s: float | None = None
        self.runs_inline = False
        """The moving average is under ``inline_below_s``: the next call runs on the event loop.
        A plain attribute, set after each call, since the request path reads it twice per request."""

    async def run(self, inputs: Mapping[str, np.ndarray]) -> Tensors:
        try:
            if self.runs_inline:
                outputs, elapsed = self._timed(inputs)
            else:
                loop = asyncio.get_running_loop()
                outputs, elapsed = await loop.run_in_executor(self._executor, self._timed, inputs)
        except ModelportError:
            raise
        except Exception as exc:
            error = InternalError("the model failed to predict")
            log.error("predict failed on %s (error id %s)", self._target, error.error_id, exc_info=exc)
            raise error from exc
        average = self._average_s
        average = elapsed if average is None else average + _SMOOTHING * (elapsed - average)
        self._average_s = average
        self.runs_inline = average < self._inline_below_s
        return outputs

    def _timed(self, inputs: Mapping[str, np.ndarray]) -> tuple[Tensors, float]:
        started = time.perf_counter()
        outputs = self._model.predict(inputs)
        return outputs, time.perf_counter() - started
