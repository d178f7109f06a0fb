"""Merging requests along the batch axis and splitting the outputs back: pure functions."""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Mapping, Sequence

import numpy as np

from modelport.core.errors import InternalError

__all__ = ["MergeKey", "merge", "merge_key", "rows_of", "split"]

MergeKey = tuple[Hashable, ...]


def rows_of(inputs: Mapping[str, np.ndarray]) -> int:
    """The batch size: axis 0 of the inputs (validation made them agree); 1 for scalars."""
    for array in inputs.values():
        return int(array.shape[0]) if array.ndim else 1
    return 1


def merge_key(inputs: Mapping[str, np.ndarray]) -> MergeKey | None:
    """What must be equal for two requests to share a batch; ``None`` if one cannot be batched."""
    parts = []
    for name in sorted(inputs):
        array = inputs[name]
        if array.ndim == 0:
            return None
        parts.append((name, array.dtype.str, array.shape[1:]))
    return tuple(parts)


def merge(requests: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """One input dict holding every request's rows, in order."""
    if len(requests) == 1:
        return dict(requests[0])
    return {name: np.concatenate([r[name] for r in requests], axis=0) for name in requests[0]}


def split(outputs: Mapping[str, np.ndarray], rows: Sequence[int]) -> list[dict[str, np.ndarray]]:
    """The outputs of a merged batch cut back into one dict per request (views, no copies)."""
    total = sum(rows)
    for name, array in outputs.items():
        if array.ndim == 0 or array.shape[0] != total:
            raise InternalError(
                f"the model returned {array.shape} for output {name!r} of a {total}-row batch"
            )
    bounds = itertools.pairwise(itertools.accumulate(rows, initial=0))
    return [{name: array[start:end] for name, array in outputs.items()} for start, end in bounds]
