"""The canonical request and response every front-end decodes into and encodes from.

Arrays stay numpy end to end; BYTES tensors are object arrays of ``bytes``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modelport.core.errors import InvalidInput

__all__ = [
    "MAX_REQUEST_ID_CHARS",
    "CallTiming",
    "InferenceRequest",
    "InferenceResponse",
    "RequestedOutput",
    "check_request_id",
]

Parameters = dict[str, Any]

MAX_REQUEST_ID_CHARS = 256
"""Longest request id accepted: ids are echoed, logged and remembered for feedback."""


def check_request_id(request_id: str | None) -> None:
    """``InvalidInput`` unless ``request_id`` is absent (or empty) or at most 256 printable characters.

    The message never repeats the id: it may be megabytes, or meant for a log reader's terminal.
    """
    if request_id is None:
        return
    if len(request_id) > MAX_REQUEST_ID_CHARS or not request_id.isprintable():
        raise InvalidInput(
            f"the request's 'id' must be at most {MAX_REQUEST_ID_CHARS} printable characters "
            f"(got {len(request_id)} characters)"
        )


@dataclass(frozen=True, slots=True)
class RequestedOutput:
    """An output the caller asked for by name, with its per-output parameters (e.g. ``binary_data``)."""

    name: str
    parameters: Parameters = field(default_factory=dict)


@dataclass(slots=True)
class CallTiming:
    """When the model call that answered a request started and ended (``perf_counter_ns``).

    Filled by the batcher only for requests that carry one: the front-end attaches it when tracing.
    """

    started_ns: int = 0
    finished_ns: int = 0


@dataclass(slots=True)
class InferenceRequest:
    inputs: dict[str, np.ndarray]
    id: str | None = None
    parameters: Parameters = field(default_factory=dict)
    input_parameters: dict[str, Parameters] = field(default_factory=dict)
    outputs: list[RequestedOutput] | None = None
    """``None`` means every output of the model."""
    timing: CallTiming | None = None


@dataclass(slots=True)
class InferenceResponse:
    model_name: str
    model_version: str
    outputs: dict[str, np.ndarray]
    id: str | None = None
    parameters: Parameters = field(default_factory=dict)
