"""The connection's lazily moved deadline, on a real event loop: it expires with what was awaited,
never after a ``stop``, later when moved later, and sooner when moved sooner than its pending timer.
The e2e test ``tests/e2e/test_hostile_clients.py`` holds the protocol that uses it."""

from __future__ import annotations

import asyncio

from modelport.core.settings import HttpSettings
from modelport.serving.http_guard import ConnectionGuard, Deadline, Wait

HANG_GUARD_S = 5.0
"""Only bounds a broken deadline; the deadlines under test are hundredths of a second."""


class Expiries:
    def __init__(self) -> None:
        self.seen: list[Wait] = []
        self.event = asyncio.Event()

    def __call__(self, waiting: Wait) -> None:
        self.seen.append(waiting)
        self.event.set()

    async def next(self) -> Wait:
        await asyncio.wait_for(self.event.wait(), HANG_GUARD_S)
        self.event.clear()
        return self.seen[-1]


async def test_a_started_wait_expires_with_its_name() -> None:
    expiries = Expiries()
    deadline = Deadline(asyncio.get_running_loop(), expiries)
    deadline.start("head", 0.01)
    assert await expiries.next() == "head"
    assert deadline.waiting is None


async def test_a_stopped_wait_never_expires_and_a_new_one_does() -> None:
    expiries = Expiries()
    deadline = Deadline(asyncio.get_running_loop(), expiries)
    deadline.start("head", 0.01)
    deadline.stop()
    await asyncio.sleep(0.05)
    assert expiries.seen == []
    deadline.start("body", 0.01)
    assert await expiries.next() == "body"
    assert expiries.seen == ["body"]


async def test_a_deadline_moved_later_waits_and_one_moved_sooner_than_its_timer_expires_first() -> None:
    expiries = Expiries()
    deadline = Deadline(asyncio.get_running_loop(), expiries)
    deadline.start("head", 0.01)
    deadline.start("body", 3600)  # the pending timer fires at 0.01 s, finds the wait moved, re-arms
    await asyncio.sleep(0.05)
    assert expiries.seen == []
    deadline.start("head", 0.01)  # sooner than the re-armed timer: it must not wait for it
    assert await expiries.next() == "head"


async def test_cancel_drops_the_timer() -> None:
    expiries = Expiries()
    deadline = Deadline(asyncio.get_running_loop(), expiries)
    deadline.start("head", 0.01)
    deadline.cancel()
    await asyncio.sleep(0.05)
    assert expiries.seen == []


def test_the_closing_answers_name_the_limits_in_the_protocols_error_format() -> None:
    settings = HttpSettings(head_timeout_s=2.5, body_timeout_s=30, max_connections=7)
    guard = ConnectionGuard.from_settings(settings)
    assert guard.head_late.startswith(b"HTTP/1.1 408 ")
    assert guard.head_late.endswith(b'\r\n\r\n{"error":"the request\'s head did not arrive within 2.5 s"}')
    assert guard.body_late.endswith(b'{"error":"the request\'s body did not arrive within 30 s"}')
    assert guard.over_capacity.startswith(b"HTTP/1.1 503 ")
    assert b"\r\nretry-after: 1\r\n" in guard.over_capacity
    assert b"7 open connections" in guard.over_capacity
    for answer in (guard.head_late, guard.body_late, guard.over_capacity):
        head, body = answer.split(b"\r\n\r\n")
        assert f"content-length: {len(body)}\r\n".encode() in head + b"\r\n"
        assert b"connection: close" in head
