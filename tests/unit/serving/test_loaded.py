"""``LoadedVersion``'s count of requests in flight, and ``drained``, which a retiring version waits on."""

from __future__ import annotations

import asyncio

from modelport.serving.loaded import LoadedVersion
from tests.unit.serving.fakes import SumModel


def version() -> LoadedVersion:
    return LoadedVersion("m", 1, "onnx", "0" * 64, SumModel())


async def test_a_version_with_no_request_is_drained_at_once() -> None:
    assert await version().drained(0.0)


async def test_drained_waits_for_the_last_request_and_gives_up_at_its_timeout() -> None:
    loaded = version()
    loaded.acquire()
    loaded.acquire()
    assert not await loaded.drained(0.01)  # two requests in flight: not drained in time
    waiting = asyncio.create_task(loaded.drained(5))
    await asyncio.sleep(0)
    loaded.release()
    await asyncio.sleep(0)
    assert not waiting.done() and loaded.in_flight == 1
    loaded.release()
    assert await waiting


async def test_a_second_drain_waits_for_requests_that_came_after_the_first() -> None:
    loaded = version()
    loaded.acquire()
    first = asyncio.create_task(loaded.drained(5))
    await asyncio.sleep(0)
    loaded.release()
    assert await first
    loaded.acquire()  # a request comes in after that drain ended
    second = asyncio.create_task(loaded.drained(5))
    await asyncio.sleep(0.01)
    assert not second.done()
    loaded.release()
    assert await second
