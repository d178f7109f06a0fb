"""One prediction on zeros before a model takes traffic, so the first real request does not pay for
lazy initialisation (and a model that fails on any input fails before it is used)."""

from __future__ import annotations

import logging
import math

import numpy as np

from modelport.core.errors import ModelportError
from modelport.core.tensors import Datatype, Signature
from modelport.runtimes.base import LoadedModel

__all__ = ["warm_up", "warmup_inputs"]

log = logging.getLogger(__name__)


def warmup_inputs(signature: Signature, max_bytes: int) -> dict[str, np.ndarray] | None:
    """One row of zeros (empty strings for BYTES) in every input's shape.

    ``None`` if together they would hold more than ``max_bytes``, counted before anything is
    allocated as a request's inputs are (a BYTES element counts as its 8-byte reference).
    """
    shapes = {spec.name: tuple(1 if dim == -1 else dim for dim in spec.shape) for spec in signature.inputs}
    size = sum(math.prod(shapes[spec.name]) * spec.datatype.numpy_dtype.itemsize for spec in signature.inputs)
    if size > max_bytes:
        return None
    inputs = {}
    for spec in signature.inputs:
        shape = shapes[spec.name]
        if spec.datatype is Datatype.BYTES:
            inputs[spec.name] = np.full(shape, b"", dtype=object)
        else:
            inputs[spec.name] = np.zeros(shape, dtype=spec.datatype.numpy_dtype)
    return inputs


def warm_up(model: LoadedModel, target: str, max_bytes: int) -> None:
    """Run one prediction so the first real request does not pay for lazy initialisation.

    A warm-up input larger than a request may be (``limits.max_tensor_bytes``) is skipped, not
    refused: the signature was checked against the model when it was registered, and the limit
    is this server's setting, which another server of the same registry may set higher.
    """
    inputs = warmup_inputs(model.signature, max_bytes)
    if inputs is None:
        log.info(
            "warm-up of %s skipped: one row is larger than limits.max_tensor_bytes (%d)", target, max_bytes
        )
        return
    try:
        model.predict(inputs)
    except ModelportError as exc:  # zeros are not valid input for every model; that is not fatal
        log.info("warm-up of %s skipped: %s", target, exc.message)
