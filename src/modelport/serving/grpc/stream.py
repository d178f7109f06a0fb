"""One ``ModelStreamInfer`` call: many requests answered concurrently, in the order they complete.

A request takes one of ``window`` slots before it is read and gives it back once its answer has been
handed to grpcio. So at most ``window`` requests of a stream are decoded, running or waiting to be sent,
and a client that sends faster than they are answered waits on HTTP/2 flow control: nothing is buffered
without bound, whether the client is slow to send or slow to read.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

__all__ = ["answer_stream"]

Req = TypeVar("Req")
Resp = TypeVar("Resp")


async def answer_stream(
    requests: AsyncIterator[Req], answer: Callable[[Req], Awaitable[Resp]], window: int
) -> AsyncIterator[Resp]:
    """Each answer of ``answer`` (which answers failures too, and never raises) as soon as it is ready.

    Ends when the client has closed its side and every request is answered. Cancelled (the client went
    away), it cancels the requests in progress.
    """
    slots = asyncio.Semaphore(window)
    answers: asyncio.Queue[Resp | BaseException | None] = asyncio.Queue()  # None: the end
    reader = asyncio.create_task(_read(requests, answer, slots, answers))
    try:
        while (item := await answers.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
            slots.release()
    finally:
        reader.cancel()


async def _read(
    requests: AsyncIterator[Req],
    answer: Callable[[Req], Awaitable[Resp]],
    slots: asyncio.Semaphore,
    answers: asyncio.Queue[Resp | BaseException | None],
) -> None:
    in_progress: set[asyncio.Task[None]] = set()

    async def respond(request: Req) -> None:
        answers.put_nowait(await answer(request))

    try:
        while True:
            await slots.acquire()
            try:
                request = await anext(requests)
            except StopAsyncIteration:
                break
            task = asyncio.create_task(respond(request))
            in_progress.add(task)
            task.add_done_callback(in_progress.discard)
        if in_progress:
            await asyncio.wait(set(in_progress))
        answers.put_nowait(None)
    except Exception as error:  # reading failed: the stream ends with it
        answers.put_nowait(error)
    finally:
        for task in in_progress:
            task.cancel()
