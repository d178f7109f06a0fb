"""What every explainer gives: per row, one attribution per feature for each explained output, and
the base value they start from (``base + sum(values) == the explained output``, exactly for the
tree methods, for the sampled one with the background's mean as base)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from modelport.core.tensors import Signature, TensorSpec

__all__ = ["Attributions", "Explainer", "class_labels", "output_keys"]


@dataclass(frozen=True, slots=True)
class Attributions:
    values: np.ndarray
    """``[rows, outputs, features]``; features in the signature's order (a matrix input's columns
    in turn)."""
    base: np.ndarray
    """``[outputs]``: the expected value the attributions start from."""
    outputs: tuple[str, ...]
    """What each output explains: the output's name, ``name[i]``, or a class label."""


class Explainer(Protocol):
    """One method of attribution (docs/explanations.md); ``select.explainer_for`` picks it."""

    def explain(self, inputs: Mapping[str, np.ndarray]) -> Attributions:
        """The attributions of checked ``inputs`` (every input of the signature, batch on axis 0)."""


def output_keys(spec: TensorSpec, width: int) -> tuple[str, ...]:
    """The names of an output's ``width`` values per row: its class labels, else ``name[i]``."""
    if spec.labels and len(spec.labels) == width:
        return tuple(str(label) for label in spec.labels)
    if width == 1:
        return (spec.name,)
    return tuple(f"{spec.name}[{i}]" for i in range(width))


def class_labels(signature: Signature) -> Sequence[str] | None:
    """A classifier's class labels, from the spec of its probabilities."""
    for spec in signature.outputs:
        if spec.labels:
            return [str(label) for label in spec.labels]
    return None
