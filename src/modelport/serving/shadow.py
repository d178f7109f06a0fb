"""Shadow traffic: mirrored requests run beside the request path, compared with what the caller got.

The caller never waits for, sees, or is affected by a shadow: a shadowed request is offered after
the caller's answer is ready and runs as its own task through the shadow version's batcher, then
feeds the comparison of the shadow's outputs with the primary's (and, when the primary's request was
logged, the payload log, under the same record). Shadow work is bounded twice: in
total and per shadow target, so one slow shadow cannot starve the others. Work over either bound
is dropped and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelport.core.errors import ModelportError
from modelport.monitoring.comparison import ShadowComparison
from modelport.monitoring.payloads import PayloadLog, PayloadRecord, ShadowRecord
from modelport.monitoring.payloads.records import row_count
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
    logged: PayloadRecord | None
    """The primary's payload-log record, when the request was logged."""


class ShadowRunner:
    def __init__(
        self,
        max_in_flight: int = 256,
        per_target: int = 64,
        window: int = 1000,
        seed: int | None = None,
        payloads: PayloadLog | None = None,
    ) -> None:
        self._payloads = payloads
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
        logged: PayloadRecord | None = None,
    ) -> None:
        """Start a shadow run, or count it as dropped when shadow work is at its bounds (or stopped)."""
        label = shadow.label
        busy = self._by_target.get(label, 0)
        if not self._running or len(self._tasks) >= self._max_in_flight or busy >= self._per_target:
            self.dropped += 1
            return
        self._by_target[label] = busy + 1
        task = asyncio.create_task(
            self._run(ShadowJob(endpoint, primary, shadow, inputs, outputs, latency_s, logged))
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def comparisons(self) -> list[tuple[str, str, ShadowComparison]]:
        """``(endpoint, shadow label, comparison)`` for every shadow that ran here."""
        return [(endpoint, label, c) for (endpoint, label), c in sorted(self._comparisons.items())]

    def report(self, endpoint: str, others: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
        """Each shadow's comparison, its totals merged with ``others`` (other processes' states by
        shadow label); the window and ``dropped_total`` are this process's."""
        local = {label: c for (name, label), c in self._comparisons.items() if name == endpoint}
        labels = sorted(local.keys() | {label for states in others for label in states})
        shadows = {
            label: local.get(label, ShadowComparison(window=self._window)).report(
                [states[label] for states in others if label in states]
            )
            for label in labels
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
        if job.logged is not None and self._payloads is not None:
            self._payloads.offer(
                ShadowRecord(
                    record_id=job.logged.record_id,
                    request_id=job.logged.request_id,
                    time=time.time(),
                    name=job.logged.name,
                    model=version.model,
                    version=version.version,
                    rows=row_count(job.inputs),
                    outputs=outputs,
                )
            )
