"""The one table from error kind to HTTP status, and the protocol's error body."""

from __future__ import annotations

import logging

import orjson
from starlette.responses import Response

from modelport.core.errors import ErrorKind, InternalError, ModelportError, Overloaded

__all__ = ["HTTP_STATUS", "error_response", "internal_error_response"]

log = logging.getLogger(__name__)

HTTP_STATUS: dict[ErrorKind, int] = {
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.INVALID_INPUT: 400,
    ErrorKind.TOO_LARGE: 413,
    ErrorKind.CONFLICT: 409,
    ErrorKind.FORBIDDEN: 403,
    ErrorKind.UNAUTHORIZED: 401,
    ErrorKind.NOT_READY: 503,
    ErrorKind.OVERLOADED: 503,
    ErrorKind.TIMEOUT: 504,
    ErrorKind.INTERNAL: 500,
}


def error_response(error: ModelportError) -> Response:
    """``{"error": message}`` with the kind's status (and ``Retry-After`` when overloaded)."""
    headers = (
        {"Retry-After": str(max(1, round(error.retry_after_s)))} if isinstance(error, Overloaded) else {}
    )
    if error.kind is ErrorKind.UNAUTHORIZED:
        headers["WWW-Authenticate"] = "Bearer"
    body = orjson.dumps({"error": error.message})
    return Response(body, status_code=HTTP_STATUS[error.kind], headers=headers, media_type="application/json")


def internal_error_response(exc: BaseException) -> Response:
    """Log an unexpected exception and answer with an error id only: no trace leaves the server."""
    error = InternalError()
    log.error("unhandled error (error id %s)", error.error_id, exc_info=exc)
    return error_response(error)
