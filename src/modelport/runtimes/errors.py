"""Framework exceptions stop here: bad input becomes ``InvalidInput``, the rest ``InternalError``.

Messages are short and safe to show a caller: one line, no paths, no stack traces.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from modelport.core import InternalError, InvalidInput, ModelportError

__all__ = ["invalid_model_errors", "short_reason", "translate_framework_errors"]

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


@contextmanager
def translate_framework_errors(framework: str) -> Iterator[None]:
    """Around a ``predict``: input problems become ``InvalidInput``, anything else ``InternalError``."""
    try:
        yield
    except ModelportError:
        raise
    except Exception as exc:
        if _is_input_error(exc):
            raise InvalidInput(f"the {framework} model rejected the input: {short_reason(exc)}") from None
        error = InternalError(f"the {framework} runtime failed")
        logger.exception("%s runtime failed (error id %s)", framework, error.error_id)
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
