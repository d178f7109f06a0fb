"""Checks a decoded request against a model's signature before any model code runs."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from modelport.core.errors import InvalidInput
from modelport.core.inference import InferenceRequest
from modelport.core.tensors import Datatype, Signature, TensorSpec

__all__ = ["validate_request"]


def validate_request(request: InferenceRequest, signature: Signature, target: str) -> None:
    """Raise ``InvalidInput`` naming the first problem; ``target`` names the model in messages.

    A column input (shape ``[-1]``) sent as ``[n, 1]``, as MLServer's pandas codec may write a
    DataFrame's column, is taken as ``[n]``: the request's array is reshaped in place."""
    if not _conforms(request.inputs, signature.inputs):  # the common case answered in one short pass
        _column_vectors(request.inputs, signature)
        _check_input_names(request.inputs, signature, target)
        for spec in signature.inputs:
            _check_tensor(spec, request.inputs[spec.name], target)
        _check_batch_sizes(request.inputs, target)
    if request.outputs is not None:
        known = [spec.name for spec in signature.outputs]
        for wanted in request.outputs:
            if wanted.name not in known:
                raise InvalidInput(f"{target} has no output {wanted.name!r}; its outputs are {known}")


def _conforms(inputs: Mapping[str, np.ndarray], specs: tuple[TensorSpec, ...]) -> bool:
    """Whether ``inputs`` are exactly ``specs``: names, dtypes, shapes and one batch size. ``False``
    only sends the request through the checks below, which word the problem (or find none)."""
    if len(inputs) != len(specs):
        return False
    batch = None
    for spec in specs:
        array = inputs.get(spec.name)
        if array is None or array.dtype != spec.datatype.numpy_dtype or array.ndim != len(spec.shape):
            return False
        for wanted, got in zip(spec.shape, array.shape, strict=True):
            if wanted != got and wanted != -1:
                return False
        if array.ndim:
            if batch is None:
                batch = array.shape[0]
            elif batch != array.shape[0]:
                return False
    return True


def _column_vectors(inputs: dict[str, np.ndarray], signature: Signature) -> None:
    for spec in signature.inputs:
        array = inputs.get(spec.name)
        if spec.shape == (-1,) and array is not None and array.ndim == 2 and array.shape[1] == 1:
            inputs[spec.name] = array.reshape(-1)


def _check_input_names(inputs: Mapping[str, np.ndarray], signature: Signature, target: str) -> None:
    expected = [spec.name for spec in signature.inputs]
    unknown = sorted(set(inputs) - set(expected))
    if unknown:
        raise InvalidInput(f"{target} has no input named {unknown[0]!r}; its inputs are {expected}")
    missing = [name for name in expected if name not in inputs]
    if missing:
        raise InvalidInput(f"{target} needs input {missing[0]!r}, which the request lacks")


def _check_tensor(spec: TensorSpec, array: np.ndarray, target: str) -> None:
    datatype = Datatype.from_numpy(array.dtype)
    if datatype is not spec.datatype:
        raise InvalidInput(
            f"input {spec.name!r} of {target} must be {spec.datatype.value}, got {datatype.value}"
        )
    if not spec.accepts_shape(array.shape):
        wanted = ["-1" if d == -1 else str(d) for d in spec.shape]
        raise InvalidInput(
            f"input {spec.name!r} of {target} takes shape [{', '.join(wanted)}] (-1: any size), "
            f"got {list(array.shape)}"
        )


def _check_batch_sizes(inputs: Mapping[str, np.ndarray], target: str) -> None:
    sizes = {name: array.shape[0] for name, array in inputs.items() if array.ndim > 0}
    if len(set(sizes.values())) > 1:
        raise InvalidInput(f"inputs of {target} disagree on the batch size (axis 0): {sizes}")
