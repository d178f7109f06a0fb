"""The one table from error kind to HTTP status, and the protocol's error body."""

from __future__ import annotations

import logging

import orjson
from starlette.responses import Response

from modelport.core.errors import ErrorKind, InternalError, ModelportError, Overloaded, StorageError

__all__ = ["HTTP_STATUS", "error_headers", "error_response", "internal_error_response", "log_internal_error"]

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


def error_headers(error: ModelportError) -> dict[str, str]:
    """``Retry-After`` when overloaded, the auth scheme when unauthorized."""
    headers = {}
    if isinstance(error, Overloaded):
        headers["Retry-After"] = str(max(1, round(error.retry_after_s)))
    if error.kind is ErrorKind.UNAUTHORIZED:
        headers["WWW-Authenticate"] = "Bearer"
    return headers


def log_internal_error(exc: BaseException) -> InternalError:
    """Log an unexpected exception under a new error id; only the id will leave the server."""
    error = InternalError()
    log.error("unhandled error (error id %s)", error.error_id, exc_info=exc)
    return error


def error_response(error: ModelportError) -> Response:
    """``{"error": message}`` with the kind's status, as a Starlette response (management API).

    A storage failure names the server's paths: those go to the log under an error id, and the
    caller learns only that the server's storage failed."""
    if isinstance(error, StorageError):
        hidden = InternalError("the server's storage failed; its log has the cause")
        log.error("%s (error id %s)", error.message, hidden.error_id)
        error = hidden
    body = orjson.dumps({"error": error.message})
    return Response(
        body, status_code=HTTP_STATUS[error.kind], headers=error_headers(error), media_type="application/json"
    )


def internal_error_response(exc: BaseException) -> Response:
    return error_response(log_internal_error(exc))
