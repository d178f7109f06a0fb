"""Shadow traffic: mirrored requests run beside the request path, compared with what the caller got.

The caller never waits for, sees, or is affected by a shadow: a shadowed request is offered to a
bounded queue after the caller's answer is ready, and dropped (and counted) when the queue is full.
A few consumer tasks run the shadows through each shadow version's own batcher and feed the
comparison of the shadow's outputs with the primary's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelport.core.errors import ModelportError
from modelport.monitoring.comparison import ShadowComparison
from modelport.serving.endpoints import Shadow

__all__ = ["ShadowRunner"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ShadowJob:
    endpoint: str
    primary: str
    shadow: Shadow
    inputs: Mapping[str, np.ndarray]
    primary_outputs: Mapping[str, np.ndarray]
    primary_latency_s: float


class ShadowRunner:
    def __init__(
        self, max_queue: int = 256, consumers: int = 4, window: int = 1000, seed: int | None = None
    ) -> None:
        self._max_queue = max_queue
        self._consumers = consumers
        self._window = window
        self._random = random.Random(seed)
        self._queue: asyncio.Queue[ShadowJob] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._comparisons: dict[tuple[str, str], ShadowComparison] = {}
        self.dropped = 0
        self.completed = 0

    def start(self) -> None:
        self._queue = asyncio.Queue(self._max_queue)
        self._tasks = [asyncio.create_task(self._consume()) for _ in range(self._consumers)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    def sampled(self, fraction: float) -> bool:
        return fraction >= 1 or self._random.random() < fraction

    def offer(
        self,
        endpoint: str,
        primary: str,
        shadow: Shadow,
        inputs: Mapping[str, np.ndarray],
        outputs: Mapping[str, np.ndarray],
        latency_s: float,
    ) -> None:
        """Queue a shadow run, or count it as dropped when the queue is full (or not running)."""
        job = ShadowJob(endpoint, primary, shadow, inputs, outputs, latency_s)
        if self._queue is None:
            self.dropped += 1
            return
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull:
            self.dropped += 1

    def report(self, endpoint: str) -> dict[str, Any]:
        shadows = {
            label: comparison.report()
            for (name, label), comparison in sorted(self._comparisons.items())
            if name == endpoint
        }
        return {"endpoint": endpoint, "shadows": shadows, "dropped_total": self.dropped}

    async def _consume(self) -> None:
        assert self._queue is not None
        while True:
            job = await self._queue.get()
            try:
                await self._run(job)
            except Exception:
                log.exception("shadow run on %s failed unexpectedly", job.shadow.label)
            finally:
                self._queue.task_done()

    async def _run(self, job: ShadowJob) -> None:
        key = (job.endpoint, job.shadow.label)
        comparison = self._comparisons.get(key)
        if comparison is None:
            comparison = self._comparisons[key] = ShadowComparison(window=self._window)
        version = job.shadow.version
        version.acquire()
        started = time.perf_counter()
        try:
            outputs = await version.predict(job.inputs)
        except ModelportError:
            comparison.observe_error("shadow")
            return
        finally:
            version.release()
        comparison.observe(job.primary_outputs, outputs, job.primary_latency_s, time.perf_counter() - started)
        self.completed += 1
