"""Bearer-token checks for the management API: one gate in front of every route, the OpenAPI
document included, before anything reads a request's body."""

from __future__ import annotations

import ipaddress

from starlette.types import ASGIApp, Receive, Scope, Send

from modelport.serving.auth import bearer_matches, unauthorized
from modelport.serving.http_errors import error_response

__all__ = ["BearerGate", "is_loopback"]


def is_loopback(host: str) -> bool:
    """True when ``host`` only listens on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class BearerGate:
    """ASGI middleware: with a token, every HTTP request needs ``Authorization: Bearer <token>``
    (no token configured: open)."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self._app = app
        self._token = token.encode() if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._token is not None:
            authorization = dict(scope["headers"]).get(b"authorization")
            if not bearer_matches(authorization, self._token):
                await error_response(unauthorized())(scope, receive, send)
                return
        await self._app(scope, receive, send)
