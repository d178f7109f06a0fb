"""``start_eagerly``: a coroutine runs at once, and a task finishes it only if it waits, exactly as a
task would have run it from the start (results, errors, turns of the loop, cancellation, context)."""

from __future__ import annotations

import asyncio
import contextvars

import pytest

from modelport.serving.eager import start_eagerly

seen: contextvars.ContextVar[str] = contextvars.ContextVar("seen", default="unset")


async def test_a_coroutine_that_never_waits_runs_to_the_end_without_a_task() -> None:
    steps: list[str] = []

    async def answer() -> None:
        steps.append("answered")

    assert start_eagerly(asyncio.get_running_loop(), answer()) is None
    assert steps == ["answered"]  # before the caller gave the loop a turn


async def test_a_coroutine_that_waits_is_finished_by_a_task_with_what_it_waited_for() -> None:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[int] = loop.create_future()
    failing: asyncio.Future[int] = loop.create_future()
    steps: list[object] = []

    async def answer() -> None:
        steps.append("started")
        steps.append(await future)
        await asyncio.sleep(0)  # a bare turn of the loop
        try:
            await failing
        except ValueError as error:
            steps.append(str(error))

    task = start_eagerly(loop, answer())
    assert task is not None and steps == ["started"]
    future.set_result(7)
    await asyncio.sleep(0.01)
    assert steps == ["started", 7] and not task.done()
    failing.set_exception(ValueError("raised where it was awaited"))
    await task
    assert steps == ["started", 7, "raised where it was awaited"]


async def test_cancelling_the_task_cancels_what_the_coroutine_waits_for() -> None:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[None]
    steps: list[str] = []

    async def answer() -> None:
        try:
            await future
        except asyncio.CancelledError:
            steps.append("cleaned up")
            raise

    for first_turn in (False, True):  # cancelled before or after the task took over the wait
        future = loop.create_future()
        task = start_eagerly(loop, answer())
        assert task is not None
        if first_turn:
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert future.cancelled() and task.cancelled()
    assert steps == ["cleaned up", "cleaned up"]


async def test_a_cancellation_that_comes_after_the_wait_ended_still_reaches_the_coroutine() -> None:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[int] = loop.create_future()
    steps: list[str] = []

    async def answer() -> None:
        try:
            await future
        except asyncio.CancelledError:  # where a task would throw it too
            steps.append("cancelled though its wait had ended")
            raise

    task = start_eagerly(loop, answer())
    assert task is not None
    await asyncio.sleep(0)  # the task has taken over the wait
    future.set_result(1)  # the task is woken, but has not run yet...
    task.cancel()  # ...so the cancellation is thrown in when it does
    with pytest.raises(asyncio.CancelledError):
        await task
    assert steps == ["cancelled though its wait had ended"] and task.cancelled()


async def test_the_coroutine_runs_in_a_context_of_its_own_before_and_after_it_waits() -> None:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[None] = loop.create_future()
    after_the_wait: list[str] = []

    async def answer() -> None:
        seen.set("inside")
        await future
        after_the_wait.append(seen.get())

    task = start_eagerly(loop, answer())
    assert seen.get() == "unset"  # nothing the coroutine set leaks to its caller
    future.set_result(None)
    assert task is not None
    await task
    assert after_the_wait == ["inside"] and seen.get() == "unset"
