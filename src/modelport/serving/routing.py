"""A minimal ASGI router for the data plane: literal segments and ``{name}`` parameters, no regexes."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from modelport.core.errors import ModelportError, NotFound, Overloaded
from modelport.serving.auth import bearer_matches, request_headers, unauthorized
from modelport.serving.http import (
    Handler,
    HttpRequest,
    HttpResponse,
    Receive,
    Scope,
    Send,
    error_response,
    json_response,
    send_response,
)
from modelport.serving.http_errors import log_internal_error

__all__ = ["Route", "Router"]

_REMEMBERED_PATHS = 4096


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    handler: Handler
    public: bool = False
    """Answers without the token even when the data plane asks for one (the health probes)."""
    errors: Callable[[ModelportError], HttpResponse] = error_response
    """The route's protocol's error body and status (OIP's ``{"error": ...}`` unless it says otherwise)."""
    segments: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "segments", tuple(self.path.strip("/").split("/")))

    def match(self, parts: Sequence[str]) -> dict[str, str] | None:
        params = {}
        for pattern, part in zip(self.segments, parts, strict=True):
            if pattern[:1] == "{":
                if not part:
                    return None
                params[pattern[1:-1]] = part
            elif pattern != part:
                return None
        return params


class Router:
    """An ASGI app dispatching HTTP requests to ``Route`` handlers (404/405 in the protocol's format)."""

    def __init__(self, routes: Sequence[Route], token: bytes | None = None) -> None:
        """``token``: every route but the public ones asks for ``Authorization: Bearer <token>``.

        The check wraps those handlers here, once: without a token no request pays for it."""
        if token is not None:
            routes = [
                route if route.public else replace(route, handler=_guarded(route.handler, token))
                for route in routes
            ]
        self._matched: dict[tuple[str, str], tuple[Route, Mapping[str, str]]] = {}
        self._by_length: dict[int, list[Route]] = defaultdict(list)
        # literal segments win over parameters: /v2/models/stats before /v2/models/{model}
        for route in sorted(routes, key=lambda r: sum(part.startswith("{") for part in r.segments)):
            self._by_length[len(route.segments)].append(route)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = request_headers(scope["headers"])  # a repeated Authorization stays visible
            await send_response(send, await self.dispatch(scope["method"], scope["path"], headers, receive))

    async def dispatch(
        self,
        method: str,
        path: str,
        headers: Mapping[bytes, bytes],
        receive: Receive,
        body: bytes | None = None,
    ) -> HttpResponse:
        """The response to one request, whatever server runs it (ASGI above, the fast lane).

        ``body``: the whole body, when the server has read it already (``receive`` is then not used
        for it)."""
        matched = self._matched.get((method, path)) or self._match(method, path)
        if isinstance(matched, HttpResponse):
            return matched
        route, path_params = matched
        try:
            return await route.handler(HttpRequest(method, path_params, headers, receive, body))
        except Overloaded as error:
            if error.pause_s:
                await asyncio.sleep(error.pause_s)
            return route.errors(error)
        except ModelportError as error:  # the protocol's error body; unexpected ones get an error id
            return route.errors(error)
        except Exception as exc:
            return route.errors(log_internal_error(exc))

    def refuse(self, method: str, path: str, error: ModelportError) -> HttpResponse:
        """``error`` in the format of the route ``path`` leads to, without calling it (a body too large
        for the fast lane to read)."""
        matched = self._matched.get((method, path)) or self._match(method, path)
        return error_response(error) if isinstance(matched, HttpResponse) else matched[0].errors(error)

    def _match(self, method: str, path: str) -> tuple[Route, Mapping[str, str]] | HttpResponse:
        """The route and its parameters, or the 404 or 405 answer."""
        parts = path.strip("/").split("/")
        allowed = []
        for route in self._by_length.get(len(parts), ()):
            params = route.match(parts)
            if params is None:
                continue
            if route.method != method:
                allowed.append(route.method)
                continue
            return self._remember(method, path, route, params)
        return _no_route(path, method, allowed)

    def _remember(
        self, method: str, path: str, route: Route, params: dict[str, str]
    ) -> tuple[Route, Mapping[str, str]]:
        """Keep a match: clients call the same few paths over and over. Bounded against random paths."""
        if len(self._matched) >= _REMEMBERED_PATHS:
            self._matched.clear()
        matched = self._matched[(method, path)] = (route, MappingProxyType(params))
        return matched


def _guarded(handler: Handler, token: bytes) -> Handler:
    async def guarded(request: HttpRequest) -> HttpResponse:
        if not bearer_matches(request.headers.get(b"authorization"), token):
            raise unauthorized()
        return await handler(request)

    return guarded


def _no_route(path: str, method: str, allowed: list[str]) -> HttpResponse:
    if allowed:
        response = json_response(
            {"error": f"{method} is not allowed on {path}; use {', '.join(allowed)}"}, 405
        )
        response.headers.append((b"allow", ", ".join(allowed).encode()))
        return response
    error: ModelportError = NotFound(f"no route {path}")
    return error_response(error)
