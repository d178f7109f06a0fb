"""What the request path hands the payload log: references to the arrays, never copies."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from modelport.core.monitor_config import Redaction

__all__ = ["PayloadRecord", "ShadowRecord", "row_count"]


@dataclass(frozen=True, slots=True)
class PayloadRecord:
    """One sampled request: what it was called as, what it sent and got back."""

    record_id: str
    """Unique per logged request; joins a shadow's answer to it (callers may reuse request ids)."""
    request_id: str
    time: float
    """Unix seconds when the answer was ready."""
    name: str
    endpoint: str | None
    model: str
    version: int
    latency_ms: float
    inputs: Mapping[str, np.ndarray]
    outputs: Mapping[str, np.ndarray]
    redact: Mapping[str, Redaction]


@dataclass(frozen=True, slots=True)
class ShadowRecord:
    """A shadow's answer to a logged request, written beside it and joined on ``record_id``."""

    record_id: str
    request_id: str
    time: float
    name: str
    model: str
    version: int
    rows: int
    outputs: Mapping[str, np.ndarray]


def row_count(tensors: Mapping[str, np.ndarray]) -> int:
    """Rows in a request: the first tensor's leading dimension (1 for a scalar)."""
    first = next(iter(tensors.values()), None)
    if first is None or first.ndim == 0:
        return 1
    return int(first.shape[0])
