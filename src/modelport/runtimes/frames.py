"""Messages between the server and an isolated model process: a JSON header and raw array bytes.

No pickle in either direction: the server reads what the child sends as plain numbers, checked
against their declared dtype, shape and length, because the child runs a model nobody vouched for
and could be compromised by it. Strings (``BYTES`` tensors) travel as lengths and bytes.

A frame is ``u32 header length | header JSON | payload``; the header lists each array's name,
dtype, shape and byte count, and the payload holds their bytes back to back.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

__all__ = ["FrameError", "decode_arrays", "encode_frame", "read_frame"]

MAX_HEADER_BYTES = 1 << 20
MAX_RANK = 32
_LENGTH = struct.Struct("<I")
_STRINGS = "strings"
"""The dtype name of an object array of ``bytes``: u32 lengths, then the bytes."""
_NUMERIC_KINDS = frozenset("biuf")


class FrameError(Exception):
    """A frame that does not follow the format (the other side is broken or hostile)."""


def encode_frame(header: dict[str, Any], arrays: Mapping[str, np.ndarray] | None = None) -> bytes:
    """One frame: ``header`` plus, when given, ``arrays`` described under ``header["arrays"]``."""
    chunks: list[bytes] = []
    if arrays is not None:
        header = {**header, "arrays": [_describe(name, array, chunks) for name, array in arrays.items()]}
    body = json.dumps(header).encode()
    return b"".join([_LENGTH.pack(len(body)), body, *chunks])


def read_frame(read_exact: Callable[[int], bytes], payload_limit: int) -> tuple[dict[str, Any], bytes]:
    """The next frame's header and payload; sizes are checked before what they announce is read."""
    (length,) = _LENGTH.unpack(read_exact(_LENGTH.size))
    if length > MAX_HEADER_BYTES:
        raise FrameError(f"a header of {length} bytes")
    try:
        header = json.loads(read_exact(length))
    except ValueError:
        raise FrameError("the header is not JSON") from None
    if not isinstance(header, dict):
        raise FrameError("the header is not an object")
    size = sum(_nbytes(item) for item in _items(header))
    if size > payload_limit:
        raise FrameError(f"a payload of {size} bytes (limit {payload_limit})")
    return header, read_exact(size)


def decode_arrays(header: Mapping[str, Any], payload: bytes | memoryview) -> dict[str, np.ndarray]:
    """The arrays a header describes, read from ``payload`` (each checked before it is built)."""
    arrays: dict[str, np.ndarray] = {}
    offset = 0
    view = memoryview(payload)
    for item in _items(header):
        size = _nbytes(item)
        chunk = view[offset : offset + size]
        offset += size
        name, shape = item["name"], _shape(item)
        if not isinstance(name, str) or name in arrays:
            raise FrameError("an array without a name, or twice the same")
        arrays[name] = _strings(chunk, shape) if item["dtype"] == _STRINGS else _numbers(chunk, item, shape)
    if offset != len(view):
        raise FrameError("the payload is longer than its arrays")
    return arrays


def _describe(name: str, array: np.ndarray, chunks: list[bytes]) -> dict[str, Any]:
    if array.dtype.kind in "OSU":
        values = [v if isinstance(v, bytes) else str(v).encode() for v in array.ravel().tolist()]
        data = struct.pack(f"<{len(values)}I", *map(len, values)) + b"".join(values)
        dtype = _STRINGS
    else:
        data = np.ascontiguousarray(array).tobytes()
        dtype = array.dtype.str
    chunks.append(data)
    return {"name": name, "dtype": dtype, "shape": list(array.shape), "nbytes": len(data)}


def _items(header: Mapping[str, Any]) -> list[dict[str, Any]]:
    items = header.get("arrays", [])
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise FrameError("'arrays' is not a list of objects")
    return items


def _nbytes(item: Mapping[str, Any]) -> int:
    size = item.get("nbytes")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise FrameError("an array without a byte count")
    return size


def _shape(item: Mapping[str, Any]) -> tuple[int, ...]:
    shape = item.get("shape")
    if (
        not isinstance(shape, list)
        or len(shape) > MAX_RANK
        or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
    ):
        raise FrameError("an array with a bad shape")
    return tuple(shape)


def _numbers(chunk: memoryview, item: Mapping[str, Any], shape: tuple[int, ...]) -> np.ndarray:
    try:
        dtype = np.dtype(str(item["dtype"]))
    except TypeError:
        raise FrameError("an array with an unknown dtype") from None
    if dtype.kind not in _NUMERIC_KINDS or dtype.hasobject:
        raise FrameError(f"an array of dtype {dtype}")
    if math.prod(shape) * dtype.itemsize != len(chunk):
        raise FrameError("an array whose bytes do not match its shape")
    return np.frombuffer(chunk, dtype=dtype).reshape(shape).copy()


def _strings(chunk: memoryview, shape: tuple[int, ...]) -> np.ndarray:
    count = math.prod(shape)
    if 4 * count > len(chunk):
        raise FrameError("a string array shorter than its lengths")
    lengths = struct.unpack_from(f"<{count}I", chunk)
    if 4 * count + sum(lengths) != len(chunk):
        raise FrameError("a string array whose bytes do not match its lengths")
    values = np.empty(count, dtype=object)
    position = 4 * count
    for index, length in enumerate(lengths):
        values[index] = bytes(chunk[position : position + length])
        position += length
    return values.reshape(shape)
