"""``answer_stream``: a stream's requests answered concurrently, in completion order, within a window."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from modelport.serving.grpc.stream import answer_stream


class Requests:
    """The client's side: ``count`` requests, recording how many the server has read."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.read = 0

    async def __aiter__(self) -> AsyncIterator[int]:
        for number in range(self.count):
            self.read += 1
            yield number


class Answers:
    """Answers that wait until the test opens their gate, recording which have started."""

    def __init__(self, window: int) -> None:
        self.gates: dict[int, asyncio.Event] = {}
        self.started: list[int] = []
        self.cancelled: list[int] = []
        self.window_full = asyncio.Event()
        self.window = window

    def open(self, number: int) -> None:
        self.gates.setdefault(number, asyncio.Event()).set()

    async def __call__(self, number: int) -> str:
        self.started.append(number)
        if len(self.started) == self.window:
            self.window_full.set()
        try:
            await self.gates.setdefault(number, asyncio.Event()).wait()
        except asyncio.CancelledError:
            self.cancelled.append(number)
            raise
        return f"answer {number}"


async def test_requests_run_together_within_the_window_and_are_answered_as_they_complete() -> None:
    requests, answers = Requests(5), Answers(window=3)
    stream = answer_stream(aiter(requests), answers, window=3)
    first = asyncio.ensure_future(anext(stream))
    await answers.window_full.wait()
    assert answers.started == [0, 1, 2]
    assert requests.read == 3  # the fourth request stays unread: the client is held back
    answers.open(2)
    assert await first == "answer 2"  # completion order, not request order
    answers.open(0)
    assert await anext(stream) == "answer 0"
    for number in (1, 3, 4):
        answers.open(number)
    rest = [answer async for answer in stream]  # ends once the client has closed and all are answered
    assert sorted(rest) == ["answer 1", "answer 3", "answer 4"]
    assert requests.read == 5


async def test_an_answer_not_yet_sent_keeps_its_slot() -> None:
    requests, answers = Requests(3), Answers(window=2)
    for number in range(3):
        answers.open(number)
    stream = answer_stream(aiter(requests), answers, window=2)
    assert await anext(stream) in {"answer 0", "answer 1"}
    for _ in range(10):  # the loop runs on: still nothing is read while the second answer waits
        await asyncio.sleep(0)
    assert requests.read == 2
    assert len([answer async for answer in stream]) == 2


async def test_a_client_going_away_cancels_the_requests_in_progress() -> None:
    requests, answers = Requests(2), Answers(window=2)
    stream = answer_stream(aiter(requests), answers, window=2)
    consumer = asyncio.ensure_future(anext(stream))
    await answers.window_full.wait()
    consumer.cancel()  # what grpcio does to the handler when the call is cancelled
    with contextlib.suppress(asyncio.CancelledError):
        await consumer
    for _ in range(10):
        await asyncio.sleep(0)
    assert sorted(answers.cancelled) == [0, 1]
