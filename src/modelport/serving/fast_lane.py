"""The data plane's HTTP/1.1 fast lane: uvicorn's httptools protocol, answering data-plane requests
without ASGI.

Under uvicorn an ASGI request costs a scope dict, a task started before the body arrives, an event
the app waits on for the body, and two socket writes checked message by message; for a one-row
prediction that is more than the model call. Here a data-plane request is buffered whole (up to the
body limit), handed straight to the data-plane router, and answered with one write. Everything else
(the management API, the dashboard, ``HEAD``, upgrades, an app wrapped by uvicorn's middleware) takes
uvicorn's own path, on the same connection, in order: requests on one connection are answered one
after another either way (pipelined ones wait, as uvicorn makes them).

The protocol class extends uvicorn's; the uvicorn versions it works with are pinned in pyproject.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from modelport.core.errors import TooLarge
from modelport.serving.auth import request_headers
from modelport.serving.eager import start_eagerly
from modelport.serving.http import HttpResponse, Message
from modelport.serving.routing import Router

__all__ = ["FastLane", "FastLaneProtocol"]

log = logging.getLogger(__name__)

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_LANE_METHODS = frozenset({"GET", "POST"})
_REMEMBERED_URLS = 4096
_PATHS: dict[bytes, str] = {}
"""Request target → its decoded path (``_path``)."""


@dataclass
class FastLane:
    """What an app offers the fast lane: its data-plane router, which paths it serves, the body limit."""

    router: Router
    serves_path: Callable[[str], bool]
    max_body_bytes: int
    waiting: int = field(default=0, init=False)
    """Requests of any connection that suspended (and so run as tasks) and are not answered yet."""


class _LaneRequest:
    """One request on the lane; it stands where uvicorn keeps its request cycle, with the same flags."""

    __slots__ = (
        "body",
        "complete",
        "disconnected",
        "expect_continue",
        "headers",
        "keep_alive",
        "method",
        "path",
        "response_complete",
        "size",
        "started",
        "too_large",
        "turn",
    )

    def __init__(
        self, method: str, path: str, headers: dict[bytes, bytes], keep_alive: bool, expect_continue: bool
    ) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self.keep_alive = keep_alive
        self.expect_continue = expect_continue
        """The client waits for ``100 Continue`` before sending the body."""
        self.body: list[bytes] = []
        self.size = 0
        self.too_large = False
        self.complete = False
        """The whole body has arrived."""
        self.turn = False
        """Every earlier request on the connection has been answered."""
        self.started = False
        self.disconnected = False
        self.response_complete = False

    @property
    def response_started(self) -> bool:
        """uvicorn's name for it: the answer is under way."""
        return self.started

    async def receive(self) -> Message:
        return {"type": "http.request", "body": b"".join(self.body), "more_body": False}


class FastLaneProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the fast lane for the app's data-plane requests."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        lane = getattr(self.app, "fast_lane", None)  # a wrapped app (e.g. trace logging) gets no lane
        self._lane: FastLane | None = lane if isinstance(lane, FastLane) else None
        self._idle_since: float | None = None
        """When the connection's last response ended with nothing after it; ``None`` while busy."""
        self._answering = False
        """An answer is being started at once (``start_eagerly``)."""

    def on_message_begin(self) -> None:
        """Only what every request needs; uvicorn's ASGI scope is built once a request turns out to
        need it (``_asgi_headers_complete``)."""
        self.url = b""
        self.expect_100_continue = False
        self.headers = []

    def on_headers_complete(self) -> None:
        lane = self._lane
        if lane is not None and not self.parser.should_upgrade():
            method = self.parser.get_method().decode("ascii")
            path = _path(self.url)
            if method in _LANE_METHODS and lane.serves_path(path):
                self._begin(lane, method, path)
                return
        self._asgi_headers_complete()

    def _asgi_headers_complete(self) -> None:
        url, headers, expect_100_continue = self.url, self.headers, self.expect_100_continue
        super().on_message_begin()  # builds the scope, resetting the request's state: put it back
        self.url, self.expect_100_continue = url, expect_100_continue
        self.headers.extend(headers)  # the list the scope holds
        super().on_headers_complete()

    def _begin(self, lane: FastLane, method: str, path: str) -> None:
        keep_alive = self.parser.get_http_version() != "1.0" and self.parser.should_keep_alive()
        request = _LaneRequest(
            method, path, request_headers(self.headers), keep_alive, self.expect_100_continue
        )
        declared = request.headers.get(b"content-length", b"")
        request.too_large = declared.isdigit() and int(declared) > lane.max_body_bytes
        earlier = self.cycle
        self.cycle = request  # type: ignore[assignment]  # uvicorn reads only the flags both share
        if earlier is None or earlier.response_complete:
            self._take_turn(request)
        else:  # pipelined: answered after the earlier ones, as uvicorn does
            self.flow.pause_reading()
            self.pipeline.appendleft((request, self.app))  # type: ignore[arg-type]

    def _take_turn(self, request: _LaneRequest) -> None:
        request.turn = True
        if request.too_large or request.complete:
            self._answer(request)
        elif request.expect_continue:
            self.transport.write(_CONTINUE)

    def _start_asgi_task(self, cycle: Any, app: Any) -> None:
        if isinstance(cycle, _LaneRequest):
            self._take_turn(cycle)
        else:
            super()._start_asgi_task(cycle, app)

    def on_body(self, body: bytes) -> None:
        request = self.cycle
        if not isinstance(request, _LaneRequest):
            super().on_body(body)
            return
        if request.too_large or request.started:
            return
        request.size += len(body)
        if self._lane is not None and request.size > self._lane.max_body_bytes:
            request.too_large = True
            request.body.clear()
            if request.turn:
                self._answer(request)
        else:
            request.body.append(body)

    def on_message_complete(self) -> None:
        request = self.cycle
        if not isinstance(request, _LaneRequest):
            super().on_message_complete()
            return
        request.complete = True
        if request.turn and not request.started:
            self._answer(request)

    def _answer(self, request: _LaneRequest) -> None:
        request.started = True
        if not request.complete:  # answered before its body arrived: the rest of it cannot be trusted
            request.keep_alive = False
        serving, lane = self._serve(request), self._lane
        assert lane is not None
        if self._answering or lane.waiting:
            # Pipelined, its turn come in an answer that ran at once (no recursion); or other
            # requests wait: under load, requests run in tasks, in the order they were read, which
            # lets the batcher see each turn's requests together.
            task: asyncio.Task[None] | None = self.loop.create_task(serving)
        else:
            self._answering = True
            try:
                task = start_eagerly(self.loop, serving)  # most answers need no task: see eager.py
            finally:
                self._answering = False
        if task is not None:  # it waits (for a batch, a model call in a thread): shutdown can find it
            lane.waiting += 1
            task.add_done_callback(self._task_done)
            self.tasks.add(task)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        assert self._lane is not None
        self._lane.waiting -= 1

    async def _serve(self, request: _LaneRequest) -> None:
        assert self._lane is not None
        try:
            if request.too_large:
                limit = self._lane.max_body_bytes
                error = TooLarge(f"request body exceeds the limit of {limit} bytes")
                response = self._lane.router.refuse(request.method, request.path, error)
            else:
                response = await self._lane.router.dispatch(
                    request.method, request.path, request.headers, request.receive, b"".join(request.body)
                )
            if self.flow.write_paused and not request.disconnected:
                await self.flow.drain()
        except asyncio.CancelledError:  # shutdown gave up waiting: the client sees the connection close
            self.transport.close()
            raise
        except Exception:  # the router answers every error itself: this is a bug, not a bad request
            log.exception("fast lane: no response for %s %s", request.method, request.path)
            self.transport.close()
            return
        if request.disconnected:
            return
        self.transport.write(_wire(response, request.keep_alive, self.server_state.default_headers))
        request.response_complete = True
        if not request.keep_alive:
            self.transport.close()
        self.on_response_complete()

    def on_response_complete(self) -> None:
        """uvicorn's, with one keep-alive timer per connection, moved lazily.

        uvicorn cancels its keep-alive timer when data arrives and arms a new one after every
        response: two timer operations per request. Here data arriving only marks the connection
        busy (``_unset_keepalive_if_required``); the standing timer, when it fires, closes the
        connection if it has been idle for the whole timeout, and otherwise waits for the rest."""
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
            return
        self._idle_since = self.loop.time()
        if self.timeout_keep_alive_task is None:
            self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self._keep_alive_due)

    def _unset_keepalive_if_required(self) -> None:
        self._idle_since = None

    def _keep_alive_due(self) -> None:
        self.timeout_keep_alive_task = None
        idle_since = self._idle_since
        if idle_since is None:  # a request is under way: its response arms the timer again
            return
        remaining = idle_since + self.timeout_keep_alive - self.loop.time()
        if remaining > 0:
            self.timeout_keep_alive_task = self.loop.call_later(remaining, self._keep_alive_due)
        else:
            self.timeout_keep_alive_handler()

    def connection_lost(self, exc: Exception | None) -> None:
        request = self.cycle
        if isinstance(request, _LaneRequest):
            request.disconnected = not request.response_complete
            self.cycle = None  # nothing of uvicorn's to wake
        timer = self.timeout_keep_alive_task
        if timer is not None:
            timer.cancel()
            self.timeout_keep_alive_task = None
        super().connection_lost(exc)


def _path(url: bytes) -> str:
    """The decoded path of a request target; clients call the same few over and over, so the parse is
    remembered (bounded against random targets)."""
    path = _PATHS.get(url)
    if path is None:
        path = httptools.parse_url(url).path.decode("ascii")
        if "%" in path:
            path = urllib.parse.unquote(path)
        if len(_PATHS) >= _REMEMBERED_URLS:
            _PATHS.clear()
        _PATHS[url] = path
    return path


def _wire(response: HttpResponse, keep_alive: bool, default_headers: list[tuple[bytes, bytes]]) -> bytes:
    """The whole response, ready for one write; ``response``'s headers are the server's own."""
    parts = [STATUS_LINE[response.status]]
    for name, value in default_headers:
        parts += (name, b": ", value, b"\r\n")
    for name, value in response.headers:
        parts += (name, b": ", value, b"\r\n")
    parts.append(b"content-length: %d\r\n" % len(response.body))
    if not keep_alive:
        parts.append(b"connection: close\r\n")
    parts += (b"\r\n", response.body)
    return b"".join(parts)
