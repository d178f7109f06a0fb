"""Tensor data in the Open Inference Protocol's binary tensor data extension.

Fixed-size datatypes are little-endian raw bytes (BOOL: one byte per element); each BYTES element is a
4-byte little-endian length followed by its bytes. Fixed-size inputs are decoded without copying.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from itertools import chain

import numpy as np

from modelport.core import Datatype, InvalidInput

__all__ = ["array_from_binary", "binary_chunks", "binary_size"]

_LENGTH = struct.Struct("<I")


def binary_size(datatype: Datatype, shape: Sequence[int]) -> int | None:
    """Bytes a fixed-size tensor of ``shape`` takes; ``None`` for BYTES (variable length)."""
    if datatype is Datatype.BYTES:
        return None
    return math.prod(shape) * datatype.itemsize


def array_from_binary(name: str, buffer: memoryview, datatype: Datatype, shape: Sequence[int]) -> np.ndarray:
    """The array in ``buffer`` (exactly this tensor's bytes); read-only and sharing memory when fixed-size."""
    if datatype is Datatype.BYTES:
        return _bytes_from_binary(name, buffer, shape)
    array = np.frombuffer(buffer, dtype=datatype.numpy_dtype.newbyteorder("<"))
    if datatype is Datatype.BOOL and array.size and array.view(np.uint8).max() > 1:
        raise InvalidInput(f"input {name!r}: BOOL binary data must be bytes 0 or 1")
    if not array.dtype.isnative:
        array = array.astype(datatype.numpy_dtype)
    return array.reshape(shape)


def binary_chunks(array: np.ndarray, datatype: Datatype) -> list[bytes | memoryview]:
    """Byte chunks of ``array`` (already of ``datatype``'s dtype) in the binary format, for ``b"".join``."""
    if datatype is Datatype.BYTES:
        items = [_as_bytes(item) for item in array.reshape(-1)]
        return list(chain.from_iterable((_LENGTH.pack(len(item)), item) for item in items))
    little = np.ascontiguousarray(array, dtype=datatype.numpy_dtype.newbyteorder("<"))
    return [little.reshape(-1).view(np.uint8).data]


def _as_bytes(item: object) -> bytes:
    if isinstance(item, bytes):
        return item
    if isinstance(item, str):
        return item.encode("utf-8")
    return str(item).encode("utf-8")


def _bytes_from_binary(name: str, buffer: memoryview, shape: Sequence[int]) -> np.ndarray:
    expected = math.prod(shape)
    items: list[bytes] = []
    offset, end = 0, len(buffer)
    while offset < end and len(items) < expected:
        if offset + 4 > end:
            raise InvalidInput(f"input {name!r}: BYTES binary data ends inside an element's 4-byte length")
        (length,) = _LENGTH.unpack_from(buffer, offset)
        offset += 4
        if offset + length > end:
            raise InvalidInput(f"input {name!r}: BYTES element of {length} bytes runs past binary_data_size")
        items.append(bytes(buffer[offset : offset + length]))
        offset += length
    if len(items) != expected or offset != end:
        raise InvalidInput(
            f"input {name!r}: BYTES binary data holds {len(items)} elements"
            f"{' and leftover bytes' if offset != end else ''}; shape {list(shape)} needs {expected}"
        )
    out = np.empty(expected, dtype=object)
    out[:] = items
    return out.reshape(shape)
