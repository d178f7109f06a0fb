"""Framework exceptions stop here: bad input becomes ``InvalidInput``, the rest ``InternalError``.

Messages are short and safe to show a caller: one line, no paths, no stack traces.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from modelport.core import InternalError, InvalidInput, ModelportError

__all__ = ["FrameworkErrors", "invalid_model_errors", "short_reason"]

logger = logging.getLogger(__name__)

_PREFIXES = re.compile(
    r"^\[ONNXRuntimeError\]\s*:\s*\d+\s*:\s*\w+\s*:\s*"  # onnxruntime: "[ONNXRuntimeError] : 2 : FAIL : "
    r"|^\[\d\d:\d\d:\d\d\]\s+\S+:\d+:\s*"  # xgboost: "[03:10:56] /build/src/json.cc:409: "
)
_INPUT_ERROR_NAMES = frozenset({"InvalidArgument", "Fail"})  # onnxruntime's pybind11 classes
_MAX_REASON = 300


def short_reason(exc: BaseException, artifact: Path | None = None) -> str:
    """The first line of ``exc``'s message, without framework prefixes or the artifact's folder."""
    text = str(exc)
    if artifact is not None:
        text = text.replace(str(artifact), artifact.name).replace(str(artifact.parent), "")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    reason = _PREFIXES.sub("", lines[0]) if lines else type(exc).__name__
    return reason if len(reason) <= _MAX_REASON else reason[: _MAX_REASON - 3] + "..."


def _is_input_error(exc: Exception) -> bool:
    return isinstance(exc, ValueError) or type(exc).__name__ in _INPUT_ERROR_NAMES


class FrameworkErrors:
    """Around a ``predict``: input problems become ``InvalidInput``, anything else ``InternalError``.

    A class rather than a ``@contextmanager`` generator: it is entered on every model call, and a
    runtime keeps one instance, so entering it costs two plain method calls."""

    __slots__ = ("framework",)

    def __init__(self, framework: str) -> None:
        self.framework = framework

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if exc is None or isinstance(exc, ModelportError) or not isinstance(exc, Exception):
            return  # no error, ours, or not an error (a cancellation): it goes on as it is
        framework = self.framework
        if _is_input_error(exc):
            raise InvalidInput(f"the {framework} model rejected the input: {short_reason(exc)}") from None
        error = InternalError(f"the {framework} runtime failed")
        logger.error("%s runtime failed (error id %s)", framework, error.error_id, exc_info=exc)
        raise error from None


@contextmanager
def invalid_model_errors(framework: str, artifact: Path) -> Iterator[None]:
    """Around a ``load``: any framework failure means the file is not a usable model."""
    try:
        yield
    except ModelportError:
        raise
    except Exception as exc:
        reason = short_reason(exc, artifact)
        raise InvalidInput(f"{artifact.name} is not a valid {framework} model: {reason}") from None
