"""Array helpers the runtimes share: signature checks, input matrices, string conversion."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from modelport.core import Datatype, InvalidInput, Signature, TensorSpec

__all__ = [
    "check_shape",
    "decode_strings",
    "encode_strings",
    "get_input",
    "matrix",
    "rename_signature",
    "tensors_from_json",
    "tensors_to_json",
]


def rename_signature(given: Signature | None, default: Signature, framework: str) -> Signature:
    """``given`` if it fits ``default`` (same input count, no more outputs, same shapes), else refused.

    Specs are paired by position: a given signature may rename inputs and outputs and choose
    datatypes the framework casts from, but not change a shape (see ``check_shape``). An output
    given without class labels keeps the model's.
    """
    if given is None:
        return default
    if len(given.inputs) != len(default.inputs) or not 0 < len(given.outputs) <= len(default.outputs):
        raise InvalidInput(
            f"the signature does not fit this {framework} model: it takes {len(default.inputs)} input(s)"
            f" and gives up to {len(default.outputs)} output(s)"
            f" ({', '.join(s.name for s in default.outputs)})"
        )
    for kind, pairs in (
        ("input", zip(given.inputs, default.inputs, strict=True)),
        ("output", zip(given.outputs, default.outputs, strict=False)),  # given may keep fewer
    ):
        for spec, model in pairs:
            check_shape(spec, model, kind, framework)
    outputs = tuple(
        spec if spec.labels or not model.labels else replace(spec, labels=model.labels)
        for spec, model in zip(given.outputs, default.outputs, strict=False)
    )
    return replace(given, outputs=outputs)


def check_shape(given: TensorSpec, model: TensorSpec, kind: str, framework: str) -> None:
    """Refuse a given spec of another rank than the model's, or that changes a size the model fixes.

    The model's -1 (any size) may be given as -1 or a size; a size the model fixes must be given
    as that size. The server sizes its warm-up input from the signature, so a made-up shape must
    not pass (``[-1, 100000000]`` for a 30-feature model).
    """
    fits = len(given.shape) == len(model.shape) and all(
        want in (-1, got) for got, want in zip(given.shape, model.shape, strict=True)
    )
    if not fits:
        raise InvalidInput(
            f"the signature's {kind} {given.name!r} has shape {list(given.shape)}, but this {framework}"
            f" model's {kind} {model.name!r} has shape {list(model.shape)} (-1: any size)"
        )


def get_input(inputs: Mapping[str, np.ndarray], spec: TensorSpec) -> np.ndarray:
    """Input ``spec.name`` as an array of ``spec``'s datatype, its shape checked against ``spec``."""
    if spec.name not in inputs:
        raise InvalidInput(f"missing input {spec.name!r}")
    array = np.asarray(inputs[spec.name])
    if not spec.accepts_shape(array.shape):
        raise InvalidInput(
            f"input {spec.name!r} must have shape {list(spec.shape)} (-1: any size); got {list(array.shape)}"
        )
    if spec.datatype is Datatype.BYTES:
        return decode_strings(array, spec.name)
    try:
        return array.astype(spec.datatype.numpy_dtype, copy=False)
    except (TypeError, ValueError):
        raise InvalidInput(f"input {spec.name!r} cannot be read as {spec.datatype.value}") from None


def matrix(inputs: Mapping[str, np.ndarray], signature: Signature) -> np.ndarray:
    """The one input of a tabular model, C-contiguous."""
    return np.ascontiguousarray(get_input(inputs, signature.inputs[0]))


def decode_strings(array: np.ndarray, name: str) -> np.ndarray[Any, np.dtype[np.object_]]:
    """BYTES (object array of ``bytes``) to an object array of ``str``, as the frameworks take text.

    Element by element, never through numpy's fixed-width ``str``/``bytes`` dtypes: those drop
    trailing NULs, so ``b"a\\0"`` would reach the model as ``"a"``. Bytes that are not UTF-8 have
    no text form and are refused rather than changed.
    """
    flat = np.empty(array.size, dtype=object)
    try:
        flat[:] = [_text(item) for item in array.reshape(-1).tolist()]
    except UnicodeDecodeError:
        raise InvalidInput(
            f"input {name!r} holds bytes that are not valid UTF-8; this model takes text (UTF-8) only"
        ) from None
    return flat.reshape(array.shape)


def _text(item: object) -> str:
    return item.decode("utf-8") if isinstance(item, bytes) else str(item)


def encode_strings(array: np.ndarray) -> np.ndarray[Any, np.dtype[np.object_]]:
    """Strings, bytes or mixed objects to BYTES: an object array of ``bytes``, each element exact
    (no trip through numpy's fixed-width dtypes, which drop trailing NULs)."""
    flat = np.empty(array.size, dtype=object)
    flat[:] = [
        item if isinstance(item, bytes) else str(item).encode("utf-8") for item in array.reshape(-1).tolist()
    ]
    return flat.reshape(array.shape)


def tensors_to_json(sample: dict[str, np.ndarray]) -> dict[str, Any]:
    """Arrays as JSON-ready nested lists; BYTES elements as latin-1 strings (a lossless round trip)."""
    encoded = {}
    for name, value in sample.items():
        array = np.asarray(value)
        datatype = Datatype.from_numpy(array.dtype)
        if datatype is Datatype.BYTES:
            array = np.vectorize(_latin1, otypes=[object])(array)
        encoded[name] = {"datatype": datatype.value, "shape": list(array.shape), "data": array.tolist()}
    return encoded


def _latin1(value: object) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else str(value).encode().decode("latin-1")


def tensors_from_json(encoded: dict[str, Any]) -> dict[str, np.ndarray]:
    """The inverse of ``tensors_to_json``."""
    sample = {}
    for name, tensor in encoded.items():
        datatype = Datatype.parse(tensor["datatype"])
        array = np.array(tensor["data"], dtype=datatype.numpy_dtype).reshape(tensor["shape"])
        if datatype is Datatype.BYTES:
            array = np.vectorize(lambda s: s.encode("latin-1"), otypes=[object])(array)
        sample[name] = array
    return sample
