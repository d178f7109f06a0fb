"""The Open Inference Protocol's classification extension, protocol-neutral.

A requested output with the parameter ``classification: k`` comes back as its ``k`` best classes
per row, best first, as BYTES ``"score:index:label"`` (the score printed as ``%f``, the index the
class's column, the label from the signature). It applies to a classifier's scores: an output whose
signature spec lists class labels (``probabilities``). Payload logs and shadows see the raw scores.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from modelport.core.errors import InternalError, InvalidInput
from modelport.core.inference import RequestedOutput
from modelport.core.tensors import Signature, TensorSpec

__all__ = ["CLASSIFICATION", "check_classification", "classify"]

CLASSIFICATION = "classification"


def check_classification(requested: Sequence[RequestedOutput], signature: Signature) -> bool:
    """Whether any output asks for classification; ``InvalidInput`` for a bad ``k`` or an output
    that holds no class scores (checked before the model runs)."""
    asked = False
    for wanted in requested:
        if CLASSIFICATION in wanted.parameters:
            _top(wanted)
            _scores_spec(wanted.name, signature)
            asked = True
    return asked


def classify(
    outputs: Mapping[str, np.ndarray], requested: Sequence[RequestedOutput], signature: Signature
) -> dict[str, np.ndarray]:
    """``outputs`` with each output that asks for classification replaced by its top classes."""
    classified = dict(outputs)
    for wanted in requested:
        if CLASSIFICATION in wanted.parameters:
            spec = _scores_spec(wanted.name, signature)
            classified[wanted.name] = _top_classes(outputs[wanted.name], _top(wanted), spec.labels)
    return classified


def _top(wanted: RequestedOutput) -> int:
    k = wanted.parameters[CLASSIFICATION]
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise InvalidInput(
            f"output {wanted.name!r}: parameter 'classification' must be an integer >= 1 "
            f"(how many classes to return), got {k!r}"
        )
    return k


def _scores_spec(name: str, signature: Signature) -> TensorSpec:
    spec = next(s for s in signature.outputs if s.name == name)  # validated: the output exists
    if not spec.labels:
        scored = [s.name for s in signature.outputs if s.labels]
        where = f"it applies to {scored}" if scored else "this model has no output with class labels"
        raise InvalidInput(f"output {name!r} holds no class scores, so it cannot be classified; {where}")
    return spec


def _top_classes(scores: np.ndarray, k: int, labels: Sequence[object]) -> np.ndarray:
    """Each row's ``k`` best columns (all when fewer), best first; ties keep column order."""
    rows = np.atleast_2d(scores)
    if rows.ndim != 2 or rows.shape[1] != len(labels):
        raise InternalError(
            f"the scores have shape {list(scores.shape)}, which does not match {len(labels)} class labels"
        )
    order = np.argsort(-rows, axis=1, kind="stable")[:, :k]
    top = np.empty(order.shape, dtype=object)
    for r, row in enumerate(order):
        for c, index in enumerate(row):
            top[r, c] = f"{rows[r, index]:f}:{index}:{labels[index]}".encode()
    return top if scores.ndim == 2 else top[0]
