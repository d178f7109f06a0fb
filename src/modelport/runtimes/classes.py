"""Every classifier gives the same outputs: ``label``, the predicted class, and ``probabilities``,
one FP64 column per class. The class labels are in the signature, on the ``probabilities`` spec
(``labels``), in column order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from modelport.core import Datatype, InvalidInput, Signature, TensorSpec
from modelport.core.tensors import Label
from modelport.runtimes.arrays import encode_strings, rename_signature

__all__ = ["ClassLabels", "classifier_outputs", "classifier_signature", "label_datatype"]


def label_datatype(labels: Sequence[Label]) -> Datatype:
    """BOOL, INT64 or FP64 when every label is of that kind, else BYTES."""
    for datatype, kind in ((Datatype.BOOL, bool), (Datatype.INT64, int), (Datatype.FP64, float)):
        if labels and all(type(label) is kind for label in labels):
            return datatype
    return Datatype.BYTES


def classifier_outputs(labels: Sequence[Label]) -> tuple[TensorSpec, TensorSpec]:
    """The ``label`` and ``probabilities`` specs of a classifier of ``labels``."""
    return (
        TensorSpec("label", label_datatype(labels), (-1,)),
        TensorSpec("probabilities", Datatype.FP64, (-1, len(labels)), labels=tuple(labels)),
    )


def classifier_signature(
    given: Signature | None, default: Signature, legacy: Signature, framework: str
) -> tuple[Signature, ClassLabels | None]:
    """The signature of a booster classifier, and its ``ClassLabels``; ``None`` for a signature that
    fits only ``legacy``, the one raw probability output a version registered before classifiers
    had labels was given, which such a version keeps."""
    try:
        signature = rename_signature(given, default, framework)
        return signature, ClassLabels(signature, default)
    except InvalidInput as refused:
        if given is None:
            raise
        try:
            return rename_signature(given, legacy, framework), None
        except InvalidInput:
            raise refused from None


class ClassLabels:
    """Turns a classifier's probabilities into its two outputs, named as its signature names them."""

    def __init__(self, signature: Signature, default: Signature) -> None:
        """``default``: the runtime's own signature; a given ``signature`` may name other labels."""
        outputs = signature.outputs
        labels = next((spec.labels for spec in outputs[1:2] if spec.labels), default.outputs[1].labels)
        if len(labels) != len(default.outputs[1].labels):
            raise InvalidInput(
                f"the signature names {len(labels)} class labels; this model has"
                f" {len(default.outputs[1].labels)} classes"
            )
        self._names = [spec.name for spec in outputs]
        self._values = _values(labels, outputs[0].datatype)

    def outputs(self, probabilities: np.ndarray) -> dict[str, np.ndarray]:
        """``label`` (the most probable class) and, when the signature keeps it, ``probabilities``."""
        probabilities = np.asarray(probabilities, dtype=np.float64)
        label = self._values[np.argmax(probabilities, axis=1)]
        return dict(zip(self._names, (label, probabilities), strict=False))


def _values(labels: Sequence[Label], datatype: Datatype) -> np.ndarray[Any, Any]:
    """The labels as the label output gives them: as text (BYTES), or as numbers of their own kind."""
    if datatype is Datatype.BYTES:
        return encode_strings(np.array(labels, dtype=object))
    values = np.array(labels)
    kinds = {values.dtype.kind, datatype.numpy_dtype.kind}
    if len(kinds) > 1 and kinds != {"i", "u"}:  # integer labels may be given as another integer type
        raise InvalidInput(f"the class labels {list(labels)[:5]} cannot be given as a {datatype.value} label")
    return values.astype(datatype.numpy_dtype)
