"""Reading a request body under the configured size limit, before it is all in memory."""

from __future__ import annotations

from starlette.requests import Request

from modelport.core.errors import InvalidInput, TooLarge

__all__ = ["read_body"]


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refusing as soon as it is known to exceed ``limit`` bytes."""
    encoding = request.headers.get("content-encoding", "identity").lower()
    if encoding != "identity":
        raise InvalidInput(f"content-encoding {encoding!r} is not supported; send the body uncompressed")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"request body of {declared} bytes exceeds the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
