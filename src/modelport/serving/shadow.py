"""Shadow traffic: mirrored requests run beside the request path, compared with what the caller got.

The caller never waits for, sees, or is affected by a shadow: a shadowed request is offered after
the caller's answer is ready and runs as its own task through the shadow version's batcher, then
feeds the comparison of the shadow's outputs with the primary's. Shadow work is bounded twice: in
total and per shadow target, so one slow shadow cannot starve the others. Work over either bound
is dropped and counted.
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
        self, max_in_flight: int = 256, per_target: int = 64, window: int = 1000, seed: int | None = None
    ) -> None:
        self._max_in_flight = max_in_flight
        self._per_target = per_target
        self._window = window
        self._random = random.Random(seed)
        self._running = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._by_target: dict[str, int] = {}
        self._comparisons: dict[tuple[str, str], ShadowComparison] = {}
        self.dropped = 0
        self.completed = 0

    def start(self) -> None:
        self._running = True

    async def stop(self) -> None:
        self._running = False
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

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
        """Start a shadow run, or count it as dropped when shadow work is at its bounds (or stopped)."""
        label = shadow.label
        busy = self._by_target.get(label, 0)
        if not self._running or len(self._tasks) >= self._max_in_flight or busy >= self._per_target:
            self.dropped += 1
            return
        self._by_target[label] = busy + 1
        task = asyncio.create_task(
            self._run(ShadowJob(endpoint, primary, shadow, inputs, outputs, latency_s))
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def comparisons(self) -> list[tuple[str, str, ShadowComparison]]:
        """``(endpoint, shadow label, comparison)`` for every shadow that ran here."""
        return [(endpoint, label, c) for (endpoint, label), c in sorted(self._comparisons.items())]

    def report(self, endpoint: str) -> dict[str, Any]:
        shadows = {
            label: comparison.report()
            for (name, label), comparison in sorted(self._comparisons.items())
            if name == endpoint
        }
        return {"endpoint": endpoint, "shadows": shadows, "dropped_total": self.dropped}

    async def _run(self, job: ShadowJob) -> None:
        try:
            await self._compare(job)
        except Exception:
            log.exception("shadow run on %s failed unexpectedly", job.shadow.label)
        finally:
            self._by_target[job.shadow.label] -= 1

    async def _compare(self, job: ShadowJob) -> None:
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
