"""``Batched``: one queue per loaded version, drained into merged model calls, ``instances`` at a time.

A request waits in a bounded queue (full: refused at once as overloaded). There are no standing
worker tasks: a request that finds an instance free *leads*: it yields once so that the requests
ready at the same moment can join the queue, takes the oldest request and every following one that
can share its batch (up to the policy's limit), runs them as one call, and splits the outputs back.
The leader returns as soon as its own request is answered; if requests are still queued, a drainer
task inherits its instance and keeps running batches until the queue is empty. At low load a
request thus runs with no task switch beyond one yield; under load, batches form by themselves.

A queue delay is sat out only when batch mates may come. A request is *lone* when it finds the
version idle (nothing queued, no batch running) and so did the request before it: nothing else is
on its way, so it runs at once (after the same one yield). A request that arrives while a batch
runs, or finds the version idle just after one that did not (under load a batch ends, the
requests it answered come straight back, and the first of them finds an idle version for an
instant), waits up to the delay as configured: more are likely on their way. One arrival that
found company is all it takes to wait again, so batches under load form as before, while a
client sending one request at a time waits for the delay at most once: with its first request,
which has no request before it to go by.

When the model runs on the event loop (``runs_inline``), a lone request does not even yield or
queue: it calls the model straight away, unless another request already did so in the same turn of
the event loop. Requests that become ready in one turn (a burst read from several connections at
once) are likely batch mates, so from the second of them on they queue and yield as above, and
batch together.

If a merged batch is refused as bad input, each request is retried alone so that only the bad one
fails. A request still queued past its deadline fails with a timeout without running.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from modelport.core.errors import InvalidInput, ModelportError, NotReady, Overloaded, Timeout
from modelport.core.inference import CallTiming
from modelport.core.serving_config import ServingConfig
from modelport.serving.batching.merge import MergeKey, merge, merge_key, rows_of, split
from modelport.serving.batching.policy import BatchPolicy

__all__ = ["BatchRunner", "Batched"]

Tensors = dict[str, np.ndarray]


class BatchRunner(Protocol):
    @property
    def runs_inline(self) -> bool:
        """The next ``run`` completes without suspending (it runs on the event loop)."""
        ...

    async def run(self, inputs: Mapping[str, np.ndarray]) -> Tensors: ...


@dataclass(slots=True)  # not frozen: built for every request, and frozen costs 4x to build
class QueuedRequest:
    inputs: Mapping[str, np.ndarray]
    rows: int
    key: MergeKey | None
    enqueued_at: float
    deadline: float | None
    future: asyncio.Future[Tensors]
    timing: CallTiming | None
    alone: bool
    """It found the version idle, and so did the request before it."""


class Batched:
    def __init__(
        self,
        runner: BatchRunner,
        config: ServingConfig,
        policy: BatchPolicy,
        target: str,
        clock: Callable[[], float] = time.monotonic,
        on_batch: Callable[[int, list[int], int], None] | None = None,
    ) -> None:
        """``on_batch(rows, waits_ns, infer_ns)`` is told about every model call: its rows, how long
        each of its requests waited in the queue, and how long the call took."""
        self._runner = runner
        self._config = config
        self._policy = policy
        self._target = target
        self._clock = clock
        self._on_batch = on_batch
        self._queue: deque[QueuedRequest] = deque()
        self._queued_rows = 0
        self._arrival = asyncio.Event()
        self._running = 0
        self._last_found_idle = False  # no request seen yet: nothing says the load is light
        self._closing = False
        self._ran_alone_this_turn = False
        self._drainers: set[asyncio.Task[None]] = set()

    @property
    def config(self) -> ServingConfig:
        return self._config

    @property
    def queue_depth(self) -> int:
        return len(self._queue)

    def admit(self, in_flight: int) -> None:
        """Refuse a request before any work is spent on it if it cannot be served in time."""
        if not self._policy.admit(in_flight):
            raise Overloaded(
                f"{self._target} is at its latency target's concurrency limit; retry later",
                pause_s=self._policy.refusal_pause_s(),
            )

    def observe_request(self, latency_s: float) -> None:
        self._policy.observe_request(latency_s)

    async def predict(self, inputs: Mapping[str, np.ndarray], timing: CallTiming | None = None) -> Tensors:
        """Queue ``inputs`` for the next batch; ``timing``, if given, gets its model call's times."""
        if self._closing:
            raise NotReady(f"{self._target} is being unloaded")
        rows = rows_of(inputs)
        idle = not self._queue and not self._running
        if idle and self._last_found_idle and not self._ran_alone_this_turn and self._runner.runs_inline:
            return await self._run_alone(inputs, rows, timing)
        if len(self._queue) >= self._config.max_queue_size:
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
            timing=timing,
            alone=idle and self._last_found_idle,
        )
        self._last_found_idle = idle
        self._queue.append(request)
        self._queued_rows += rows
        self._arrival.set()
        if self._running >= self._config.instances:
            return await request.future
        self._running += 1
        try:
            await self._run_until(request.future)
        finally:
            self._release_instance()
        return await request.future  # answered by this task, or by a batch another instance is running

    async def _run_alone(
        self, inputs: Mapping[str, np.ndarray], rows: int, timing: CallTiming | None
    ) -> Tensors:
        """A lone request on an inline model: the model call, with no queue, future or yield."""
        self._ran_alone_this_turn = True
        asyncio.get_running_loop().call_soon(self._turn_ended)  # runs after the rest of this turn
        started = self._clock()
        started_ns = time.perf_counter_ns() if timing is not None else 0
        outputs = await self._runner.run(inputs)  # inline: never suspends
        self._ran(rows, [0], started, started_ns, [] if timing is None else [timing])
        return outputs

    def _turn_ended(self) -> None:
        self._ran_alone_this_turn = False

    async def close(self) -> None:
        """Refuse new requests and wait until the queued ones are answered."""
        self._closing = True
        while self._queue or self._running:
            await asyncio.sleep(0.005)

    async def _run_until(self, done: asyncio.Future[Tensors] | None) -> None:
        """Run batches until ``done`` is resolved (``None``: until the queue is empty)."""
        await asyncio.sleep(0)  # let the requests that are ready right now join this batch
        while self._queue and (done is None or not done.done()):
            head = self._queue[0]
            lone = head.alone and len(self._queue) == 1
            wait = self._policy.wait_s(self._queued_rows, self._clock() - head.enqueued_at, lone)
            if wait > 0:
                self._arrival.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._arrival.wait(), wait)
                continue
            batch = self._take(self._policy.batch_limit())
            if not batch:
                continue
            if self._runner.runs_inline:
                await self._execute(batch)  # never suspends, so it cannot be cancelled half-way
            else:  # a cancelled leader (its client went away) must not strand its batch mates
                await asyncio.shield(self._execute(batch))

    def _release_instance(self) -> None:
        """Hand the instance to a drainer while requests remain queued, else free it."""
        if self._queue:
            task = asyncio.create_task(self._drain())
            self._drainers.add(task)
            task.add_done_callback(self._drainers.discard)
        else:
            self._running -= 1

    async def _drain(self) -> None:
        try:
            await self._run_until(None)
        finally:
            self._release_instance()

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
        timings = [r.timing for r in batch if r.timing is not None]  # traced requests only
        started = self._clock()
        started_ns = time.perf_counter_ns() if timings else 0
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
        waits_ns = [] if self._on_batch is None else [int((started - r.enqueued_at) * 1e9) for r in batch]
        self._ran(sum(r.rows for r in batch), waits_ns, started, started_ns, timings)
        for request, part in zip(batch, parts, strict=True):
            if not request.future.done():
                request.future.set_result(part)

    def _ran(
        self, rows: int, waits_ns: list[int], started: float, started_ns: int, timings: list[CallTiming]
    ) -> None:
        """Tell the statistics, the traced requests and the policy about a model call that just ended."""
        finished = self._clock()
        if self._on_batch is not None:
            self._on_batch(rows, waits_ns, int((finished - started) * 1e9))
        if timings:
            finished_ns = time.perf_counter_ns()
            for timing in timings:
                timing.started_ns, timing.finished_ns = started_ns, finished_ns
        self._policy.observe(rows, finished - started)


def _expired(request: QueuedRequest, now: float) -> bool:
    return request.deadline is not None and now > request.deadline


def _fail(batch: list[QueuedRequest], error: ModelportError) -> None:
    for request in batch:
        if not request.future.done():
            request.future.set_exception(error)
