"""``Batched``: one queue per loaded version, drained by ``instances`` workers into merged model calls.

A request waits in a bounded queue (full: refused at once as overloaded). A free worker takes the
oldest request and every following one that can share its batch, up to the policy's limit, runs
them as one call, and splits the outputs back. If a merged batch is refused as bad input, each
request is retried alone so that only the bad one fails. A request still queued past its deadline
fails with a timeout without running.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from modelport.core.errors import InvalidInput, ModelportError, NotReady, Overloaded, Timeout
from modelport.core.serving_config import ServingConfig
from modelport.serving.batching.merge import MergeKey, merge, merge_key, rows_of, split
from modelport.serving.batching.policy import BatchPolicy

__all__ = ["BatchRunner", "Batched"]

Tensors = dict[str, np.ndarray]


class BatchRunner(Protocol):
    async def run(self, inputs: Mapping[str, np.ndarray]) -> Tensors: ...


@dataclass(frozen=True, slots=True)
class QueuedRequest:
    inputs: Mapping[str, np.ndarray]
    rows: int
    key: MergeKey | None
    enqueued_at: float
    deadline: float | None
    future: asyncio.Future[Tensors]


class Batched:
    def __init__(
        self,
        runner: BatchRunner,
        config: ServingConfig,
        policy: BatchPolicy,
        target: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._runner = runner
        self._config = config
        self._policy = policy
        self._target = target
        self._clock = clock
        self._queue: deque[QueuedRequest] = deque()
        self._queued_rows = 0
        self._work = asyncio.Event()
        self._closing = False
        self._workers = [asyncio.create_task(self._worker()) for _ in range(config.instances)]

    @property
    def config(self) -> ServingConfig:
        return self._config

    @property
    def queue_depth(self) -> int:
        return len(self._queue)

    async def predict(self, inputs: Mapping[str, np.ndarray]) -> Tensors:
        if self._closing:
            raise NotReady(f"{self._target} is being unloaded")
        rows = rows_of(inputs)
        if len(self._queue) >= self._config.max_queue_size or not self._policy.admit(self._queued_rows, rows):
            raise Overloaded(
                f"{self._target} is overloaded ({len(self._queue)} requests queued); retry later"
            )
        now = self._clock()
        timeout = self._config.timeout_ms
        request = QueuedRequest(
            inputs=inputs,
            rows=rows,
            key=merge_key(inputs),
            enqueued_at=now,
            deadline=None if timeout is None else now + timeout / 1000,
            future=asyncio.get_running_loop().create_future(),
        )
        self._queue.append(request)
        self._queued_rows += rows
        self._work.set()
        return await request.future

    async def close(self) -> None:
        """Refuse new requests, finish the queued ones, stop the workers."""
        self._closing = True
        while self._queue:
            await asyncio.sleep(0.005)
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)

    async def _worker(self) -> None:
        while True:
            await self._work.wait()
            if not self._queue:
                self._work.clear()
                continue
            wait = self._policy.wait_s(self._queued_rows, self._clock() - self._queue[0].enqueued_at)
            if wait > 0:
                self._work.clear()
                try:
                    await asyncio.wait_for(self._work.wait(), wait)
                except TimeoutError:
                    self._work.set()
                continue
            batch = self._take(self._policy.batch_limit())
            if not self._queue:
                self._work.clear()
            if batch:
                await self._execute(batch)

    def _take(self, limit: int) -> list[QueuedRequest]:
        """The oldest live request and the ones after it that fit in its batch, in order."""
        batch: list[QueuedRequest] = []
        rows, now = 0, self._clock()
        while self._queue:
            head = self._queue[0]
            if head.future.done() or _expired(head, now):
                self._pop()
                if not head.future.done():
                    head.future.set_exception(
                        Timeout(f"request waited longer than its timeout for {self._target}")
                    )
                continue
            if batch and (head.key is None or head.key != batch[0].key or rows + head.rows > limit):
                break
            batch.append(self._pop())
            rows += head.rows
        return batch

    def _pop(self) -> QueuedRequest:
        request = self._queue.popleft()
        self._queued_rows -= request.rows
        return request

    async def _execute(self, batch: list[QueuedRequest]) -> None:
        started = self._clock()
        try:
            outputs = await self._runner.run(merge([r.inputs for r in batch]))
            parts = split(outputs, [r.rows for r in batch]) if len(batch) > 1 else [outputs]
        except InvalidInput as error:
            if len(batch) == 1:
                _fail(batch, error)
                return
            for request in batch:  # find the bad request(s); the others still get their answer
                await self._execute([request])
            return
        except ModelportError as error:
            _fail(batch, error)
            return
        finished = self._clock()
        for request, part in zip(batch, parts, strict=True):
            if not request.future.done():
                request.future.set_result(part)
        self._policy.observe(
            sum(r.rows for r in batch), finished - started, [finished - r.enqueued_at for r in batch]
        )


def _expired(request: QueuedRequest, now: float) -> bool:
    return request.deadline is not None and now > request.deadline


def _fail(batch: list[QueuedRequest], error: ModelportError) -> None:
    for request in batch:
        if not request.future.done():
            request.future.set_exception(error)
