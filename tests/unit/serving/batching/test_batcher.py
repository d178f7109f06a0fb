import asyncio
from collections.abc import Coroutine, Mapping
from typing import Any

import numpy as np
import pytest

from modelport.core import InvalidInput, Overloaded, Timeout
from modelport.core.inference import CallTiming
from modelport.core.serving_config import ServingConfig
from modelport.serving.batching import Batched, FixedPolicy


class RecordingRunner:
    """Doubles each row; refuses rows holding a negative number; can be held to let a queue build."""

    runs_inline = False

    def __init__(self) -> None:
        self.batches: list[int] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        await self.gate.wait()
        x = inputs["x"]
        self.batches.append(len(x))
        if (x < 0).any():
            raise InvalidInput("negative input")
        return {"y": x * 2}


def batched(runner: RecordingRunner, **config: object) -> Batched:
    settings = ServingConfig(**config)  # type: ignore[arg-type]
    return Batched(runner, settings, FixedPolicy(settings), "m:1")


def rows(*values: float) -> dict[str, np.ndarray]:
    return {"x": np.asarray(values, np.float32).reshape(-1, 1)}


async def settle() -> None:
    """Let every task that can go on without a timer do so (a queue delay is a timer)."""
    for _ in range(20):
        await asyncio.sleep(0)


async def test_requests_queued_while_the_model_is_busy_share_one_call() -> None:
    runner = RecordingRunner()
    batcher = batched(runner, max_batch_size=8)
    runner.gate.clear()
    first = asyncio.create_task(batcher.predict(rows(1)))
    await asyncio.sleep(0.01)  # the worker has taken the first request and is blocked in the model
    rest = [asyncio.create_task(batcher.predict(rows(*range(n)))) for n in (1, 2, 3)]
    await asyncio.sleep(0.01)
    runner.gate.set()
    results = await asyncio.gather(first, *rest)
    assert runner.batches == [1, 6]
    assert [r["y"].ravel().tolist() for r in results] == [[2], [0], [0, 2], [0, 2, 4]]
    await batcher.close()


async def test_batches_never_exceed_the_limit_but_a_larger_request_runs_alone() -> None:
    runner = RecordingRunner()
    batcher = batched(runner, max_batch_size=4)
    runner.gate.clear()
    tasks = [asyncio.create_task(batcher.predict(rows(*range(n)))) for n in (1, 3, 3, 6, 1)]
    await asyncio.sleep(0.01)
    runner.gate.set()
    await asyncio.gather(*tasks)
    # 1+3 fill 4 rows; the next 3 cannot join them; 6 is over the limit and runs alone; then 1
    assert runner.batches == [4, 3, 6, 1]
    await batcher.close()


async def test_a_bad_request_fails_alone_and_its_batch_mates_succeed() -> None:
    runner = RecordingRunner()
    batcher = batched(runner, max_batch_size=8)
    runner.gate.clear()
    blocker = asyncio.create_task(batcher.predict(rows(0)))
    await asyncio.sleep(0.01)
    good = asyncio.create_task(batcher.predict(rows(1, 2)))
    bad = asyncio.create_task(batcher.predict(rows(-1)))
    other = asyncio.create_task(batcher.predict(rows(3)))
    await asyncio.sleep(0.01)
    runner.gate.set()
    await blocker
    assert (await good)["y"].ravel().tolist() == [2, 4]
    assert (await other)["y"].ravel().tolist() == [6]
    with pytest.raises(InvalidInput, match="negative"):
        await bad
    await batcher.close()


async def test_a_full_queue_refuses_at_once() -> None:
    runner = RecordingRunner()
    batcher = batched(runner, max_batch_size=1, max_queue_size=2)
    runner.gate.clear()
    running = asyncio.create_task(batcher.predict(rows(1)))
    await asyncio.sleep(0.01)
    queued = [asyncio.create_task(batcher.predict(rows(1))) for _ in range(2)]
    await asyncio.sleep(0)
    with pytest.raises(Overloaded, match="overloaded"):
        await batcher.predict(rows(1))
    runner.gate.set()
    await asyncio.gather(running, *queued)
    await batcher.close()


async def test_a_request_queued_past_its_deadline_times_out_without_running() -> None:
    runner = RecordingRunner()
    batcher = batched(runner, max_batch_size=1, timeout_ms=20)
    runner.gate.clear()
    running = asyncio.create_task(batcher.predict(rows(1)))
    await asyncio.sleep(0.01)
    late = asyncio.create_task(batcher.predict(rows(5)))
    await asyncio.sleep(0.05)
    runner.gate.set()
    await running
    with pytest.raises(Timeout):
        await late
    assert runner.batches == [1]
    await batcher.close()


async def test_queue_delay_waits_for_batch_mates_and_a_preferred_size_leaves_early() -> None:
    runner = RecordingRunner()
    batcher = batched(runner, max_batch_size=16, max_queue_delay_us=200_000, preferred_batch_sizes=[4])
    tasks = [asyncio.create_task(batcher.predict(rows(1))) for _ in range(4)]
    await asyncio.gather(*tasks)  # 4 rows reach the preferred size: no 200 ms wait
    assert runner.batches == [4]
    await batcher.close()


async def test_instances_run_batches_concurrently() -> None:
    runner = RecordingRunner()
    batcher = batched(runner, max_batch_size=1, instances=3)
    started = asyncio.Event()
    active = 0
    peak = 0

    async def run(inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        if peak == 3:
            started.set()
        await started.wait()
        active -= 1
        return {"y": inputs["x"]}

    runner.run = run  # type: ignore[method-assign]
    await asyncio.gather(*(batcher.predict(rows(1)) for _ in range(3)))
    assert peak == 3
    await batcher.close()


async def test_a_lone_request_does_not_sit_out_the_queue_delay() -> None:
    runner = RecordingRunner()
    batcher = batched(runner, max_batch_size=64, max_queue_delay_us=10_000_000)
    await batcher.predict(rows(*range(64)))  # the first has no one before it; full, it leaves at once
    for value in (1, 2, 3):  # one client sending one request at a time
        request = asyncio.create_task(batcher.predict(rows(value)))
        await settle()
        assert request.done()  # answered without the 10 s timer firing
        assert request.result()["y"].ravel().tolist() == [2 * value]
    assert runner.batches == [64, 1, 1, 1]
    await batcher.close()


async def test_requests_arriving_while_a_batch_runs_wait_for_company_up_to_the_limit() -> None:
    runner = RecordingRunner()
    batcher = batched(runner, max_batch_size=4, max_queue_delay_us=10_000_000)
    await batcher.predict(rows(*range(4)))  # the first request, full: it leaves at once
    runner.gate.clear()
    first = asyncio.create_task(batcher.predict(rows(1)))  # lone: sent at once, held in the model
    await settle()
    waiting = [asyncio.create_task(batcher.predict(rows(v))) for v in (2, 3, 4)]
    await settle()
    runner.gate.set()
    await settle()
    assert first.done() and runner.batches == [4, 1]
    assert not any(r.done() for r in waiting)  # 3 rows, under the limit: they wait for a 4th
    waiting.append(asyncio.create_task(batcher.predict(rows(5))))
    results = await asyncio.gather(*waiting)
    assert runner.batches == [4, 1, 4]
    assert [r["y"].ravel().tolist() for r in results] == [[4], [6], [8], [10]]
    # Under load, the first request after a batch finds the version idle for an instant: it still
    # waits, since the one before it had company.
    after = asyncio.create_task(batcher.predict(rows(6)))
    await settle()
    assert not after.done()
    mates = [asyncio.create_task(batcher.predict(rows(v))) for v in (7, 8, 9)]
    await asyncio.gather(after, *mates)
    assert runner.batches == [4, 1, 4, 4]
    await batcher.close()


async def test_a_versions_first_request_waits_for_company() -> None:
    runner = RecordingRunner()
    batcher = batched(runner, max_batch_size=2, max_queue_delay_us=10_000_000)
    first = asyncio.create_task(batcher.predict(rows(1)))
    await settle()
    assert not first.done()  # no request before it says that none is coming
    await asyncio.gather(first, batcher.predict(rows(2)))
    assert runner.batches == [2]
    await batcher.close()


class InlineRunner(RecordingRunner):
    """A model that runs on the event loop: its call never suspends."""

    runs_inline = True

    async def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.batches.append(len(inputs["x"]))
        return {"y": inputs["x"] * 2}


def answer_without_yielding(call: Coroutine[Any, Any, dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The result of ``call`` if it finishes without giving the event loop a turn; else the test fails."""
    try:
        call.send(None)
    except StopIteration as done:
        result: dict[str, np.ndarray] = done.value
        return result
    call.close()
    raise AssertionError("the request gave up the event loop before it was answered")


async def test_a_lone_request_on_an_inline_model_is_answered_without_queueing_or_yielding() -> None:
    runner = InlineRunner()
    calls: list[tuple[int, list[int]]] = []
    settings = ServingConfig(max_batch_size=64, max_queue_delay_us=10_000_000)
    batcher = Batched(
        runner, settings, FixedPolicy(settings), "m:1", on_batch=lambda r, w, _ns: calls.append((r, w))
    )
    await batcher.predict(rows(*range(64)))  # the first request has no one before it: it queues
    for value in (1, 2, 3):  # one client sending one request at a time
        timing = CallTiming()
        result = answer_without_yielding(batcher.predict(rows(value), timing))
        assert result["y"].ravel().tolist() == [2 * value]
        assert 0 < timing.started_ns <= timing.finished_ns  # a traced request still gets its call's times
        await asyncio.sleep(0)  # the client's next request comes in a later turn of the loop
    assert runner.batches == [64, 1, 1, 1]
    assert calls[1:] == [(1, [0])] * 3  # counted as model calls of one row that did not wait
    await batcher.close()


async def test_requests_ready_in_the_same_turn_as_a_lone_one_still_share_a_batch() -> None:
    runner = InlineRunner()
    batcher = batched(runner, max_batch_size=8)
    await batcher.predict(rows(0))
    await batcher.predict(rows(0))  # two at a time: the version is seen idle twice in a row
    burst = [asyncio.create_task(batcher.predict(rows(v))) for v in (1, 2, 3, 4)]  # one turn's requests
    results = await asyncio.gather(*burst)
    # the first runs at once, alone; the others, ready in the same turn, are batched together
    assert runner.batches == [1, 1, 1, 3]
    assert [r["y"].ravel().tolist() for r in results] == [[2], [4], [6], [8]]
    await batcher.close()
