"""Tensor datatypes and signatures: the vocabulary every layer shares.

Datatype names are the Open Inference Protocol's (``FP32``, ``BYTES`` ...); a shape dimension of
-1 means "any size".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from modelport.core.errors import InvalidInput

__all__ = ["Datatype", "Label", "Signature", "TensorSpec"]


class Datatype(StrEnum):
    BOOL = "BOOL"
    UINT8 = "UINT8"
    UINT16 = "UINT16"
    UINT32 = "UINT32"
    UINT64 = "UINT64"
    INT8 = "INT8"
    INT16 = "INT16"
    INT32 = "INT32"
    INT64 = "INT64"
    FP16 = "FP16"
    FP32 = "FP32"
    FP64 = "FP64"
    BYTES = "BYTES"

    @property
    def numpy_dtype(self) -> np.dtype[Any]:
        """The numpy dtype holding this datatype; BYTES is an object array of ``bytes``."""
        return _TO_NUMPY[self]

    @property
    def itemsize(self) -> int:
        """Bytes per element, 0 for the variable-length BYTES."""
        return 0 if self is Datatype.BYTES else _TO_NUMPY[self].itemsize

    @classmethod
    def parse(cls, name: str) -> Datatype:
        """The datatype called ``name`` (exact case, as the protocol requires)."""
        try:
            return cls(name)
        except ValueError:
            allowed = ", ".join(d.value for d in cls)
            raise InvalidInput(f"unknown datatype {name!r}; expected one of {allowed}") from None

    @classmethod
    def from_numpy(cls, dtype: np.dtype[Any]) -> Datatype:
        """The datatype of a numpy dtype; strings and objects map to BYTES."""
        found = _FROM_NUMPY.get(dtype)
        if found is not None:
            return found
        if dtype.kind in "OSU":
            return cls.BYTES
        try:
            return _FROM_NUMPY[np.dtype(dtype).newbyteorder("=")]
        except KeyError:
            raise InvalidInput(f"numpy dtype {dtype} has no protocol datatype") from None


_TO_NUMPY: dict[Datatype, np.dtype[Any]] = {
    Datatype.BOOL: np.dtype(np.bool_),
    Datatype.UINT8: np.dtype(np.uint8),
    Datatype.UINT16: np.dtype(np.uint16),
    Datatype.UINT32: np.dtype(np.uint32),
    Datatype.UINT64: np.dtype(np.uint64),
    Datatype.INT8: np.dtype(np.int8),
    Datatype.INT16: np.dtype(np.int16),
    Datatype.INT32: np.dtype(np.int32),
    Datatype.INT64: np.dtype(np.int64),
    Datatype.FP16: np.dtype(np.float16),
    Datatype.FP32: np.dtype(np.float32),
    Datatype.FP64: np.dtype(np.float64),
    Datatype.BYTES: np.dtype(object),
}
_FROM_NUMPY = {dtype: datatype for datatype, dtype in _TO_NUMPY.items() if datatype is not Datatype.BYTES}


Label = str | int | float | bool
"""A class label as JSON holds it."""


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """A named tensor a model takes or gives; -1 in ``shape`` is a free dimension."""

    name: str
    datatype: Datatype
    shape: tuple[int, ...]
    labels: tuple[Label, ...] = ()
    """A classifier's class labels, one per column of its ``probabilities`` output (else empty)."""

    def accepts_shape(self, shape: Sequence[int]) -> bool:
        if len(shape) != len(self.shape):
            return False
        return all(want in (-1, got) for want, got in zip(self.shape, shape, strict=True))

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "datatype": self.datatype.value, "shape": list(self.shape)}
        if self.labels:
            data["labels"] = list(self.labels)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TensorSpec:
        try:
            name, datatype, shape = data["name"], data["datatype"], data["shape"]
        except (KeyError, TypeError):
            raise InvalidInput("a tensor spec needs 'name', 'datatype' and 'shape'") from None
        if not isinstance(name, str) or not name:
            raise InvalidInput("a tensor spec's name must be a non-empty string")
        if not isinstance(shape, list | tuple) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= -1 for d in shape
        ):
            raise InvalidInput(f"tensor spec {name!r}: shape must be a list of integers >= -1")
        labels = data.get("labels", [])
        if not isinstance(labels, list) or not all(isinstance(label, str | int | float) for label in labels):
            raise InvalidInput(f"tensor spec {name!r}: labels must be a list of strings or numbers")
        return cls(
            name=name, datatype=Datatype.parse(str(datatype)), shape=tuple(shape), labels=tuple(labels)
        )


@dataclass(frozen=True, slots=True)
class Signature:
    """What a model takes and gives, in order."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    def __post_init__(self) -> None:
        for kind, specs in (("input", self.inputs), ("output", self.outputs)):
            names = [s.name for s in specs]
            if len(set(names)) != len(names):
                raise InvalidInput(f"signature has duplicate {kind} names: {names}")

    def input(self, name: str) -> TensorSpec | None:
        return next((s for s in self.inputs if s.name == name), None)

    def output(self, name: str) -> TensorSpec | None:
        return next((s for s in self.outputs if s.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "inputs": [s.to_dict() for s in self.inputs],
            "outputs": [s.to_dict() for s in self.outputs],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Signature:
        if not isinstance(data, Mapping):
            raise InvalidInput("a signature must be an object with 'inputs' and 'outputs'")
        return cls(
            inputs=tuple(TensorSpec.from_dict(s) for s in data.get("inputs", [])),
            outputs=tuple(TensorSpec.from_dict(s) for s in data.get("outputs", [])),
        )
