"""The fast lane's protocol, on a real uvicorn server on a free port, in process:

- it keeps uvicorn's keep-alive timeout with one lazily moved timer per connection: an idle
  connection is closed once the timeout passes, and a connection that keeps sending requests is not
  closed by a timer armed after an earlier response (a short timeout here);
- a request starts at once (no task) only while no other request waits.

``tests/e2e/test_fast_lane.py`` holds the rest of the lane."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import uvicorn

from modelport.serving.fast_lane import FastLane, FastLaneProtocol
from modelport.serving.http import HttpRequest, HttpResponse, Receive, Scope, Send, json_response
from modelport.serving.routing import Route, Router

KEEP_ALIVE_S = 0.5
HANG_GUARD_S = 10.0
"""Only bounds a connection that is never closed."""
REQUEST = b"GET /v2/ping HTTP/1.1\r\nhost: test\r\n\r\n"


async def ping(request: HttpRequest) -> HttpResponse:
    return json_response({"ok": True})


started_without_a_task: list[bool] = []
gate = {"open": False}


async def task_check(request: HttpRequest) -> HttpResponse:
    started_without_a_task.append(asyncio.current_task() is None)
    return json_response({"ok": True})


async def wait(request: HttpRequest) -> HttpResponse:
    while not gate["open"]:
        await asyncio.sleep(0.01)
    return json_response({"ok": True})


class LaneApp:
    """An app offering the lane its routes; everything else (only the lifespan here) is ASGI."""

    def __init__(self) -> None:
        routes = [
            Route("GET", "/v2/ping", ping),
            Route("GET", "/v2/task", task_check),
            Route("GET", "/v2/wait", wait),
        ]
        self.fast_lane = FastLane(Router(routes), lambda p: p.startswith("/v2/"), 1024)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise AssertionError(f"not on the lane: {scope['type']}")


@contextlib.asynccontextmanager
async def serving() -> AsyncIterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        LaneApp(),
        http=FastLaneProtocol,
        lifespan="off",
        proxy_headers=False,
        timeout_keep_alive=KEEP_ALIVE_S,
        log_level="warning",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        await task


async def answered(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes = REQUEST
) -> bytes:
    writer.write(request)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HANG_GUARD_S)
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.startswith(b"content-length")
    )
    return head.split(b"\r\n")[0] + b" " + await reader.readexactly(length)


async def test_an_idle_connection_is_closed_after_the_keep_alive_timeout() -> None:
    async with serving() as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await answered(reader, writer) == b'HTTP/1.1 200 OK {"ok":true}'
        assert await asyncio.wait_for(reader.read(), HANG_GUARD_S) == b""  # closed by the server
        writer.close()


async def test_a_connection_in_use_outlives_the_timer_armed_after_its_first_response() -> None:
    async with serving() as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(5):  # over twice the timeout in all, never idle for half of it
            assert await answered(reader, writer) == b'HTTP/1.1 200 OK {"ok":true}'
            await asyncio.sleep(KEEP_ALIVE_S / 2)
        assert await answered(reader, writer) == b'HTTP/1.1 200 OK {"ok":true}'
        writer.close()


async def test_a_request_starts_at_once_only_while_no_other_request_waits() -> None:
    ask_task = b"GET /v2/task HTTP/1.1\r\nhost: test\r\n\r\n"
    ok = b'HTTP/1.1 200 OK {"ok":true}'
    started_without_a_task.clear()
    gate["open"] = False
    async with serving() as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await answered(reader, writer, ask_task) == ok  # alone: no task
        other_reader, other_writer = await asyncio.open_connection("127.0.0.1", port)
        other_writer.write(b"GET /v2/wait HTTP/1.1\r\nhost: test\r\n\r\n")
        await asyncio.sleep(0.1)  # it waits, in a task of its own
        assert await answered(reader, writer, ask_task) == ok  # another waits: in a task
        gate["open"] = True
        assert await answered(other_reader, other_writer, b"") == ok
        assert await answered(reader, writer, ask_task) == ok  # alone again: no task
        writer.close()
        other_writer.close()
    assert started_without_a_task == [True, False, True]
