"""The canonical request and response every front-end decodes into and encodes from.

Arrays stay numpy end to end; BYTES tensors are object arrays of ``bytes``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["CallTiming", "InferenceRequest", "InferenceResponse", "RequestedOutput"]

Parameters = dict[str, Any]


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
