"""One error hierarchy for every layer, free of any wire protocol.

    ModelportError            (abstract: every error has a neutral ``kind``)
    ├── NotFound              NOT_FOUND      unknown model, version, alias or endpoint
    ├── InvalidInput          INVALID_INPUT  the caller sent something unusable
    ├── TooLarge              TOO_LARGE      a body or tensor exceeds a configured limit
    ├── Conflict              CONFLICT       the request contradicts stored state
    ├── Forbidden             FORBIDDEN      allowed in principle, not by this server's policy
    ├── Unauthorized          UNAUTHORIZED   missing or wrong credentials
    ├── NotReady              NOT_READY      the target exists but cannot serve yet
    ├── Overloaded            OVERLOADED     a bounded queue is full; retry later
    ├── Timeout               TIMEOUT        the request's deadline passed
    ├── StorageError          INTERNAL       the data directory or database failed (full, read-only, ...)
    └── InternalError         INTERNAL       a bug or a framework failure; carries an error id

Front-ends map ``kind`` to their own status codes in one table each; nothing here knows HTTP or gRPC.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import ClassVar

__all__ = [
    "Conflict",
    "ErrorKind",
    "Forbidden",
    "InternalError",
    "InvalidInput",
    "ModelportError",
    "NotFound",
    "NotReady",
    "Overloaded",
    "StorageError",
    "Timeout",
    "TooLarge",
    "Unauthorized",
    "failure_message",
]


class ErrorKind(StrEnum):
    NOT_FOUND = "NOT_FOUND"
    INVALID_INPUT = "INVALID_INPUT"
    TOO_LARGE = "TOO_LARGE"
    CONFLICT = "CONFLICT"
    FORBIDDEN = "FORBIDDEN"
    UNAUTHORIZED = "UNAUTHORIZED"
    NOT_READY = "NOT_READY"
    OVERLOADED = "OVERLOADED"
    TIMEOUT = "TIMEOUT"
    INTERNAL = "INTERNAL"


class ModelportError(Exception):
    """Base of every error modelport raises on purpose; ``message`` is safe to show a caller."""

    kind: ClassVar[ErrorKind] = ErrorKind.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(ModelportError):
    kind = ErrorKind.NOT_FOUND


class InvalidInput(ModelportError):
    kind = ErrorKind.INVALID_INPUT


class TooLarge(ModelportError):
    kind = ErrorKind.TOO_LARGE


class Conflict(ModelportError):
    kind = ErrorKind.CONFLICT


class Forbidden(ModelportError):
    kind = ErrorKind.FORBIDDEN


class Unauthorized(ModelportError):
    kind = ErrorKind.UNAUTHORIZED


class NotReady(ModelportError):
    kind = ErrorKind.NOT_READY


class Overloaded(ModelportError):
    kind = ErrorKind.OVERLOADED

    def __init__(self, message: str, retry_after_s: float = 1.0, pause_s: float = 0.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.pause_s = pause_s  # held this long before it is sent: paces clients that retry at once


class Timeout(ModelportError):
    kind = ErrorKind.TIMEOUT


class StorageError(ModelportError):
    """The server's own storage failed (disk full, read-only, unreadable, corrupt): an expected
    failure of the machine, not a bug, so the message names the cause and the path instead of an
    error id."""

    kind = ErrorKind.INTERNAL


class InternalError(ModelportError):
    """An unexpected failure. The caller sees only the error id; the log holds the cause."""

    kind = ErrorKind.INTERNAL

    def __init__(self, message: str = "internal error", error_id: str | None = None) -> None:
        self.error_id = error_id or uuid.uuid4().hex[:16]
        super().__init__(f"{message} (error id {self.error_id})")


def failure_message(error: BaseException) -> str:
    """One line for a job's or command's failure: our errors' own message, an OS error's cause and
    path, else the exception's type and text."""
    if isinstance(error, ModelportError):
        return error.message
    if isinstance(error, OSError):
        cause = error.strerror or str(error)
        return f"{cause}: {error.filename}" if error.filename else cause
    return f"{type(error).__name__}: {error}"
