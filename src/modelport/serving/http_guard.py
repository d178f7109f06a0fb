"""Hostile HTTP clients: a deadline for each request's head and body, and a cap on connections.

uvicorn closes a connection that stays idle after a response, but nothing else: a client that
trickles a request one byte at a time, or stops half-way through a body, holds its connection (and
a file descriptor) for ever. ``GuardedProtocol`` wraps the protocol every HTTP request goes through
(the fast lane's, which hands what it does not serve to uvicorn's ASGI path), so the management
API, the dashboard and the data plane get the same guard:

- the **head** (request line and headers) must arrive within ``http.head_timeout_s`` of the
  connection's start, or of the end of the previous response on a keep-alive connection;
- the **body** must arrive within ``http.body_timeout_s`` of the request's turn (its head, or the
  end of the response before it when pipelined);
- past either, the connection is closed, with a 408 when part of a request had come;
- a connection beyond ``http.max_connections`` (per server process) is answered 503 at once and
  closed, so the connections being served keep their file descriptors and their pace.

The server waits for nothing while it answers. Each connection has one timer, moved lazily: a new
deadline only stores a time, and the timer re-arms itself when it fires early. So a request costs a
clock read and a few attribute stores, never a timer of its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE
from uvicorn.server import ServerState

from modelport.core.settings import HttpSettings
from modelport.serving.fast_lane import FastLaneProtocol

__all__ = ["ConnectionGuard", "Deadline", "GuardedProtocol"]

log = logging.getLogger(__name__)

Wait = Literal["head", "body"]
_SLACK_S = 0.005
"""A timer may fire a little before its time (the loop's clock has millisecond steps)."""


class Deadline:
    """When the client must have sent what the server waits for, with one lazily moved timer.

    ``start`` names what is awaited and by when, ``stop`` says nothing is; ``expire`` is called
    with the name once a started wait passes its time without a ``stop`` or a new ``start``.
    """

    __slots__ = ("_at", "_expire", "_loop", "_timer", "_timer_at", "waiting")

    def __init__(self, loop: asyncio.AbstractEventLoop, expire: Callable[[Wait], None]) -> None:
        self._loop = loop
        self._expire = expire
        self.waiting: Wait | None = None
        self._at = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0

    def start(self, waiting: Wait, seconds: float) -> None:
        at = self._loop.time() + seconds
        self.waiting, self._at = waiting, at
        if self._timer is None or at < self._timer_at:
            self._arm(at)

    def stop(self) -> None:
        self.waiting = None  # the timer, if any, finds nothing to do when it fires

    def cancel(self) -> None:
        """Stop, and drop the timer (the connection is gone)."""
        self.waiting = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm(self, at: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timer_at = self._loop.call_at(at, self._fire), at

    def _fire(self) -> None:
        self._timer = None
        waiting = self.waiting
        if waiting is None:
            return
        if self._loop.time() + _SLACK_S < self._at:
            self._arm(self._at)
        else:
            self.waiting = None
            self._expire(waiting)


@dataclass(frozen=True)
class ConnectionGuard:
    """The limits, and the answers that close a connection (built once, not per connection)."""

    head_timeout_s: float
    body_timeout_s: float
    max_connections: int
    head_late: bytes
    body_late: bytes
    over_capacity: bytes

    @classmethod
    def from_settings(cls, settings: HttpSettings) -> ConnectionGuard:
        head, body, most = settings.head_timeout_s, settings.body_timeout_s, settings.max_connections
        return cls(
            head,
            body,
            most,
            _closing(408, f"the request's head did not arrive within {head:g} s"),
            _closing(408, f"the request's body did not arrive within {body:g} s"),
            _closing(
                503, f"the server has {most} open connections, its limit; retry later", b"retry-after: 1\r\n"
            ),
        )


def _closing(status: int, message: str, extra: bytes = b"") -> bytes:
    body = orjson.dumps({"error": message})
    head = b"content-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n" % len(body)
    return STATUS_LINE[status] + head + extra + b"\r\n" + body


class GuardedProtocol(FastLaneProtocol):
    """The fast lane's protocol with the deadlines and the connection cap."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        guard: ConnectionGuard,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._guard = guard
        self._deadline = Deadline(self.loop, self._expired)
        self._begun = False
        """Part of a request's head has come."""
        self._body_done = True

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self._guard.max_connections:
            log.debug("refusing a connection: %d open", len(self.connections) - 1)
            transport.write(self._guard.over_capacity)
            transport.close()
            return
        self._deadline.start("head", self._guard.head_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        self._deadline.cancel()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        self._begun = True
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._begun, self._body_done = False, False
        earlier = self.cycle
        if earlier is None or earlier.response_complete:
            self._deadline.start("body", self._guard.body_timeout_s)
        else:  # pipelined: its body is awaited once its turn comes
            self._deadline.stop()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._body_done = True
        if self._deadline.waiting == "body":
            self._deadline.stop()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        pipelined = len(self.pipeline)
        super().on_response_complete()
        if self.transport.is_closing():
            return
        if not pipelined:
            self._deadline.start("head", self._guard.head_timeout_s)
        elif pipelined == 1 and not self._body_done:  # the request taking its turn is the last one read
            self._deadline.start("body", self._guard.body_timeout_s)

    def _expired(self, waiting: Wait) -> None:
        transport = self.transport
        if transport.is_closing() or transport.get_protocol() is not self:  # closed, or upgraded
            return
        log.debug("closing a connection: its request %s did not arrive in time", waiting)
        if waiting == "head" and self._begun:
            transport.write(self._guard.head_late)
        elif waiting == "body" and (self.cycle is None or not self.cycle.response_started):
            transport.write(self._guard.body_late)
        if transport.get_write_buffer_size():  # a client that does not read either
            transport.abort()
        else:
            transport.close()
