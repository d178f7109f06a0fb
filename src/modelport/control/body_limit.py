"""A bound on every management request's body, enforced while it arrives.

A body declared (``Content-Length``) over the limit is refused before any of it is read; a body
sent without a length (chunked) is counted as it is read and cut off once it passes the limit, so
no more than about the limit is ever read, parsed or spooled. The refusal closes the connection:
the rest of the body is never read.
"""

from __future__ import annotations

import contextlib

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelport.control.auth import refuse
from modelport.core.errors import TooLarge

__all__ = ["BodyLimit"]


class _Exceeded(Exception):
    """Raised into whatever reads the body, to stop it reading."""


class BodyLimit:
    """ASGI middleware answering 413 to a request whose body exceeds ``limit`` bytes."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self._app = app
        self._limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self._limit:
            await self._refuse(scope, receive, send)
            return
        received = 0
        exceeded = started = False

        async def counted() -> Message:
            nonlocal received, exceeded
            message = await receive()
            received += len(message.get("body", b""))
            if received > self._limit:
                exceeded = True
                raise _Exceeded
            return message

        async def answer(message: Message) -> None:
            nonlocal started
            if exceeded:  # the app's answer to a body it could not finish reading
                return
            started = True
            await send(message)

        with contextlib.suppress(_Exceeded):  # when not turned into a response on its way out
            await self._app(scope, counted, answer)
        if exceeded and not started:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        await refuse(TooLarge(f"request body exceeds the limit of {self._limit} bytes"), scope, receive, send)
