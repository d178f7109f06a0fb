"""Tensor data in the Open Inference Protocol's JSON form: JSON ``data`` <-> numpy, without per-element loops.

Only BYTES tensors need a Python loop (each element is a ``str`` <-> ``bytes`` conversion).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from modelport.core import Datatype, InvalidInput

__all__ = ["INPUT_DATA_DEPTH", "array_from_json", "data_depth", "fits_float", "json_data"]

INPUT_DATA_DEPTH = 3
"""Depth of an input's ``data`` list inside a request body: body object > ``inputs`` list > input object."""
_INTEGER_KINDS = "iu"
_FLOAT_MAX = {np.dtype(t): float(np.finfo(t).max) for t in (np.float16, np.float32, np.float64)}
_FEW = 64
"""Up to this many values, a Python loop over them (in C) beats two numpy calls."""
_KIND_NAMES = {"U": "a string", "O": "null, an object or a mix of lists and numbers", "S": "a string"}


def data_depth(data: object) -> int:
    """How deeply ``data`` nests lists, following first elements (cheap: O(depth))."""
    depth = 0
    while isinstance(data, list):
        depth += 1
        if not data:
            break
        data = data[0]
    return depth


def array_from_json(name: str, data: object, datatype: Datatype, shape: Sequence[int]) -> np.ndarray:
    """The array of ``datatype`` and ``shape`` that JSON ``data`` (flat or nested) describes."""
    if not isinstance(data, list):
        raise InvalidInput(f"input {name!r}: 'data' must be a JSON array")
    if datatype is Datatype.BYTES:
        array = _bytes_from_json(name, data)
    else:
        array = _numbers_from_json(name, data, datatype)
    expected = math.prod(shape)
    if array.size != expected:
        raise InvalidInput(f"input {name!r}: shape {list(shape)} needs {expected} elements, got {array.size}")
    return array.reshape(shape)


def json_data(name: str, array: np.ndarray, datatype: Datatype) -> np.ndarray | list[str]:
    """Flat row-major data of ``array`` (already of ``datatype``'s dtype) that orjson can serialise."""
    if datatype is Datatype.BYTES:
        return [_utf8_text(name, item) for item in array.reshape(-1)]
    if datatype is Datatype.FP16:
        array = array.astype(np.float32)
    return array.ravel()  # C-contiguous, as orjson needs: a view when it already is


def _utf8_text(name: str, item: object) -> str:
    if isinstance(item, str):
        return item
    if not isinstance(item, bytes):
        return str(item)
    try:
        return item.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(
            f"output {name!r} holds bytes that are not valid UTF-8 and cannot be sent as JSON; "
            'request it with the output parameter "binary_data": true'
        ) from None


def _bytes_from_json(name: str, data: list[Any]) -> np.ndarray:
    flat = np.asarray(data, dtype=object).reshape(-1)
    out = np.empty(flat.size, dtype=object)
    out[:] = [_utf8_bytes(name, item) for item in flat]
    return out


def _utf8_bytes(name: str, item: object) -> bytes:
    if isinstance(item, str):
        return item.encode("utf-8")
    if isinstance(item, list):
        raise InvalidInput(f"input {name!r}: data is ragged: nested lists must all have the same length")
    raise InvalidInput(f"input {name!r}: BYTES data must be JSON strings, found {type(item).__name__}")


def _numbers_from_json(name: str, data: list[Any], datatype: Datatype) -> np.ndarray:
    try:
        raw = np.asarray(data)
    except (ValueError, OverflowError):
        raise InvalidInput(
            f"input {name!r}: data is ragged: nested lists must all have the same length"
        ) from None
    if raw.size == 0:
        return np.empty(0, dtype=datatype.numpy_dtype)
    _check_kind(name, raw, datatype)
    if datatype is Datatype.BOOL:
        return raw
    if datatype.numpy_dtype.kind in _INTEGER_KINDS:
        return _integers_from_json(name, data, raw, datatype)
    dtype = datatype.numpy_dtype
    if raw.dtype == dtype:
        return raw
    if datatype.itemsize < raw.dtype.itemsize and not fits_float(raw, dtype):
        raise InvalidInput(f"input {name!r}: a value is out of range for {datatype}")
    return raw.astype(dtype)


def fits_float(raw: np.ndarray, dtype: np.dtype[Any]) -> bool:
    """Whether every value of non-empty ``raw`` (numbers read from JSON) is within float ``dtype``'s range."""
    limit = _FLOAT_MAX[dtype]
    if raw.size <= _FEW:
        values: list[float] = raw.ravel().tolist()
        return max(values) <= limit and min(values) >= -limit
    return bool(np.abs(raw).max() <= limit)


def _check_kind(name: str, raw: np.ndarray, datatype: Datatype) -> None:
    kind = raw.dtype.kind
    if datatype is Datatype.BOOL:
        if kind != "b":
            raise InvalidInput(f"input {name!r}: BOOL data must be JSON true/false only")
    elif kind == "b":
        raise InvalidInput(f"input {name!r}: {datatype} data must be numbers, found true/false")
    elif kind not in "iuf":
        found = _KIND_NAMES.get(kind, f"numpy kind {kind!r}")
        raise InvalidInput(f"input {name!r}: {datatype} data must be numbers, found {found}")


def _integers_from_json(name: str, data: list[Any], raw: np.ndarray, datatype: Datatype) -> np.ndarray:
    dtype = datatype.numpy_dtype
    info = np.iinfo(dtype)
    if raw.dtype.kind == "f":
        fractional = raw != np.trunc(raw)
        if fractional.any():
            value = raw[fractional].flat[0]
            raise InvalidInput(f"input {name!r}: {datatype} data must be integers, found {value}")
        if dtype.itemsize == 8:  # float64 is not exact here (e.g. [0, 2**64 - 1]): convert exactly instead
            return _exact_integers(name, data, datatype)
        outside = (raw < info.min) | (raw >= float(info.max) + 1)
    else:
        outside = (raw < info.min) | (raw > info.max)
    if outside.any():
        value = raw[outside].flat[0]
        raise InvalidInput(
            f"input {name!r}: value {value} is out of range for {datatype} ({info.min}..{info.max})"
        )
    return raw.astype(dtype)


def _exact_integers(name: str, data: list[Any], datatype: Datatype) -> np.ndarray:
    try:
        return np.asarray(data, dtype=datatype.numpy_dtype)
    except OverflowError:
        info = np.iinfo(datatype.numpy_dtype)
        raise InvalidInput(
            f"input {name!r}: a value is out of range for {datatype} ({info.min}..{info.max})"
        ) from None
