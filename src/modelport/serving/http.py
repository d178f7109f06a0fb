"""Just enough raw ASGI for the data plane: read a bounded body, send a response, route by path.

The data plane answers thousands of small requests per second per core; a framework's per-request
objects (request, response, middleware stack, regex routing) cost more than the model call. This
module keeps each request to a few dict lookups and two ``send`` calls.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from modelport.core.errors import InvalidInput, ModelportError, TooLarge
from modelport.serving.http_errors import HTTP_STATUS, error_headers

__all__ = [
    "Handler",
    "HttpRequest",
    "HttpResponse",
    "Receive",
    "Scope",
    "Send",
    "error_response",
    "header_text",
    "json_response",
    "read_body",
    "send_response",
    "trace_carrier",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_JSON = [(b"content-type", b"application/json")]


@dataclass(slots=True)  # not frozen: built for every request, and frozen costs 4x to build
class HttpRequest:
    method: str
    path_params: Mapping[str, str]
    headers: Mapping[bytes, bytes]
    """Lower-case names; the last value wins for repeated headers."""
    receive: Receive
    body: bytes | None = None
    """The whole body when the server read it before dispatching (the fast lane); else ``receive``."""


@dataclass(slots=True)  # not frozen: built for every request, and frozen costs 4x to build
class HttpResponse:
    body: bytes
    status: int = 200
    headers: list[tuple[bytes, bytes]] = field(default_factory=lambda: list(_JSON))


def json_response(payload: Any, status: int = 200) -> HttpResponse:
    return HttpResponse(orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY), status)


def error_response(error: ModelportError) -> HttpResponse:
    headers = [*_JSON, *((k.lower().encode(), v.encode()) for k, v in error_headers(error).items())]
    return HttpResponse(orjson.dumps({"error": error.message}), HTTP_STATUS[error.kind], headers)


def trace_carrier(request: HttpRequest) -> dict[str, str]:
    """The request's headers as text, where tracing reads a caller's context (``traceparent``)."""
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in request.headers.items()}


def header_text(headers: Mapping[bytes, bytes], name: bytes) -> str | None:
    """A header's value as text; a value that is not UTF-8 is the caller's error, not the server's."""
    value = headers.get(name)
    if value is None:
        return None
    try:
        return value.decode()
    except UnicodeDecodeError:
        raise InvalidInput(f"header {name.decode()} is not valid UTF-8") from None


async def read_body(request: HttpRequest, limit: int) -> bytes:
    """The whole body, refused as soon as it is known to exceed ``limit`` bytes."""
    encoding = request.headers.get(b"content-encoding", b"identity").lower()
    if encoding != b"identity":
        raise InvalidInput(
            f"content-encoding {encoding.decode(errors='replace')!r} is not supported; send it plain"
        )
    declared = request.headers.get(b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"request body of {int(declared)} bytes exceeds the limit of {limit} bytes")
    if request.body is not None:
        return request.body if len(request.body) <= limit else _too_large(limit)
    message = await request.receive()
    body = message.get("body", b"")
    if not message.get("more_body", False):
        return body if len(body) <= limit else _too_large(limit)
    chunks, size = [], 0
    while True:
        size += len(body)
        if size > limit:
            _too_large(limit)
        chunks.append(body)
        if not message.get("more_body", False):
            return b"".join(chunks)
        message = await request.receive()
        body = message.get("body", b"")


def _too_large(limit: int) -> bytes:
    raise TooLarge(f"request body exceeds the limit of {limit} bytes")


async def send_response(send: Send, response: HttpResponse) -> None:
    headers = [*response.headers, (b"content-length", str(len(response.body)).encode())]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


Handler = Callable[[HttpRequest], Awaitable[HttpResponse]]
