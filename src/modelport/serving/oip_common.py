"""The common JSON request, decoded in one pass.

Almost every request a tabular model gets is ``{"inputs": [{"name", "shape", "datatype", "data"}]}``
in OIP, or a plain list of rows of numbers in KServe v1's and MLflow's bodies. The general decoders
walk such a body in many small steps, each with its own error message; this module checks the same
rules in one pass and gives up (``None``) at the first thing it does not expect. The general decoder
then decides, so every error keeps its one message and its one place.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from modelport.core import InferenceRequest
from modelport.core.settings import LimitSettings
from modelport.core.tensors import TensorSpec
from modelport.serving.oip_json import INPUT_DATA_DEPTH, fits_float
from modelport.serving.wire_checks import MAX_DIMS

__all__ = ["decode_common_request", "one_numeric_input"]

_REQUEST_KEYS = frozenset({"inputs", "id"})
_INPUT_KEYS = frozenset({"name", "shape", "datatype", "data"})
_NUMERIC: dict[str, np.dtype[Any]] = {
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
    "INT64": np.dtype(np.int64),
}


def decode_common_request(document: dict[str, Any], limits: LimitSettings) -> InferenceRequest | None:
    """The request ``document`` (a parsed JSON body) holds, when it is of the common form and valid.

    ``None`` means "not this form, or something is wrong": decode it the general way. A request this
    function returns is exactly what the general decoder returns for the same body.
    """
    if not document.keys() <= _REQUEST_KEYS:
        return None
    request_id = document.get("id")
    inputs = document.get("inputs")
    if (request_id is not None and type(request_id) is not str) or type(inputs) is not list or not inputs:
        return None
    arrays: dict[str, np.ndarray] = {}
    budget = limits.max_tensor_bytes
    for item in inputs:
        array = _common_input(item, limits.max_json_depth, budget, arrays)
        if array is None:
            return None
        budget -= array.nbytes
    return InferenceRequest(inputs=arrays, id=request_id)


def _common_input(
    item: object, depth_limit: int, budget: int, seen: dict[str, np.ndarray]
) -> np.ndarray | None:
    """One input's array, added to ``seen`` under its name; ``None`` to leave it to the general path."""
    if type(item) is not dict or item.keys() != _INPUT_KEYS:
        return None
    name, shape, data = item["name"], item["shape"], item["data"]
    dtype = _NUMERIC.get(item["datatype"]) if type(item["datatype"]) is str else None
    if dtype is None or type(name) is not str or not name or name in seen or type(data) is not list:
        return None
    if (
        type(shape) is not list
        or len(shape) > MAX_DIMS
        or INPUT_DATA_DEPTH + max(1, len(shape)) > depth_limit
    ):
        return None
    for dim in shape:
        if type(dim) is not int or dim < 0:
            return None
    count = math.prod(shape)
    if count == 0 or count * dtype.itemsize > budget:
        return None
    array = _numbers(data, dtype)
    if array is None or array.size != count or array.ndim > max(1, len(shape)):
        return None
    seen[name] = array = array.reshape(shape)
    return array


def one_numeric_input(
    data: object, specs: Sequence[TensorSpec], budget: int, depth_limit: int
) -> dict[str, np.ndarray] | None:
    """``data``, JSON numbers nested as a tensor in a body's top-level object, as the input of a model
    of one FP32, FP64 or INT64 input, in the shape the nesting gives; ``None`` to leave it to the
    general path: another model, not such a list, empty, ragged, a value to convert with a check,
    more than ``budget`` bytes, or nested as deep as ``depth_limit`` levels with the object around it."""
    if len(specs) != 1 or type(data) is not list or not data:
        return None
    dtype = _NUMERIC.get(specs[0].datatype.value)
    array = None if dtype is None else _numbers(data, dtype)
    if array is None or array.ndim + 1 >= depth_limit or array.nbytes > budget:
        return None
    return {specs[0].name: array}


def _numbers(data: list[Any], dtype: np.dtype[Any]) -> np.ndarray | None:
    """JSON ``data`` as numpy reads it, when that is float64 or int64 (numbers, rectangular, not
    empty), as ``dtype``; ``None`` for anything else or a conversion the general path must check."""
    try:
        raw = np.asarray(data)
    except (ValueError, OverflowError):
        return None
    if raw.size == 0 or raw.dtype.itemsize != 8 or raw.dtype.kind not in "fi":
        return None
    return _convert(raw, dtype)


def _convert(raw: np.ndarray, dtype: np.dtype[Any]) -> np.ndarray | None:
    """``raw`` (float64 or int64 from JSON numbers) as ``dtype``; ``None`` when that needs a check the
    general path words (a value out of range, a fraction for an integer type)."""
    if dtype == raw.dtype:
        return raw
    if dtype.kind == "i":  # integers from floats: fractions and range are the general path's to report
        return None
    if dtype.itemsize < raw.dtype.itemsize and not fits_float(raw, dtype):
        return None
    return raw.astype(dtype)
