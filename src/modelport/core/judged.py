"""A prediction that feedback can judge, as processes share it through the registry."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["StoredPrediction"]


@dataclass(frozen=True, slots=True)
class StoredPrediction:
    """Who answered a request, under which endpoint revision, and what it predicted."""

    request_id: str
    variant: str
    revision: int
    prediction: np.ndarray
    """Numbers, or an object array of ``str`` for text labels."""
