"""A chunk's columns as the model's input arrays, with the rows that cannot be converted.

Types convert as the online path takes them: numbers to the input's datatype (an integer from a
float only when it has no fraction), text parsed as numbers, anything to text for BYTES. A null
(a missing value) is never a tensor value, so its row is bad, as is a row whose cell does not fit
the datatype (NaN for an integer input, text that is not a number, a list of the wrong length).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from modelport.batch.mapping import ColumnMap, InputColumns
from modelport.core.tensors import Datatype

__all__ = ["BadRows", "chunk_inputs"]

BadRows = dict[int, str]
"""Row position in the chunk → why it cannot be scored (the first reason found)."""

_ARROW = {
    Datatype.BOOL: pa.bool_(),
    Datatype.UINT8: pa.uint8(),
    Datatype.UINT16: pa.uint16(),
    Datatype.UINT32: pa.uint32(),
    Datatype.UINT64: pa.uint64(),
    Datatype.INT8: pa.int8(),
    Datatype.INT16: pa.int16(),
    Datatype.INT32: pa.int32(),
    Datatype.INT64: pa.int64(),
    Datatype.FP16: pa.float16(),
    Datatype.FP32: pa.float32(),
    Datatype.FP64: pa.float64(),
}


def chunk_inputs(table: pa.Table, mapping: ColumnMap) -> tuple[dict[str, np.ndarray], BadRows]:
    """Every input of ``mapping`` for all rows of ``table`` (bad rows hold a placeholder)."""
    bad: BadRows = {}
    inputs = {item.spec.name: _input(table, item, bad) for item in mapping.inputs}
    return inputs, bad


def _input(table: pa.Table, item: InputColumns, bad: BadRows) -> np.ndarray:
    datatype = item.spec.datatype
    if item.nested:
        return _nested(table.column(item.columns[0]), item, bad)
    columns = [_column(table.column(name), name, datatype, bad) for name in item.columns]
    if len(item.spec.shape) == 1:
        return columns[0]
    return np.stack(columns, axis=1) if columns else np.empty((table.num_rows, 0), datatype.numpy_dtype)


def _column(column: pa.ChunkedArray, name: str, datatype: Datatype, bad: BadRows) -> np.ndarray:
    _mark(bad, column, f"column {name!r} is null (missing)")
    if datatype is Datatype.BYTES:
        text = pc.cast(column, pa.string()) if not pa.types.is_binary(column.type) else column
        return np.array([_bytes(v) for v in text.to_pylist()], dtype=object)
    target = _ARROW[datatype]
    filled = column.fill_null(_zero(column.type)) if column.null_count else column
    try:
        converted = pc.cast(filled, target, safe=not _widening(column.type, target))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        converted = _one_by_one(filled, name, datatype, bad)
    return np.asarray(converted.to_numpy(zero_copy_only=False), dtype=datatype.numpy_dtype)


def _one_by_one(column: pa.ChunkedArray, name: str, datatype: Datatype, bad: BadRows) -> pa.Array:
    """The slow path, taken only for a chunk holding a bad cell: find each one."""
    target = _ARROW[datatype]
    values: list[Any] = []
    for row, value in enumerate(column.to_pylist()):
        try:
            values.append(pa.scalar(value).cast(target, safe=True).as_py())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            bad.setdefault(row, f"column {name!r}: {value!r} is not {datatype.value}")
            values.append(None)
    return pa.array(values, type=target).fill_null(_zero(target))


def _nested(column: pa.ChunkedArray, item: InputColumns, bad: BadRows) -> np.ndarray:
    fast = _matrix(column, item)
    if fast is not None:
        return fast
    name, spec = item.columns[0], item.spec
    _mark(bad, column, f"column {name!r} is null (missing)")
    shape = tuple(1 if d == -1 else d for d in spec.shape[1:])
    rows = []
    for row, value in enumerate(column.to_pylist()):
        try:
            array = np.asarray(value, dtype=spec.datatype.numpy_dtype)
            if value is None or not spec.accepts_shape((1, *array.shape)):
                raise ValueError
        except (ValueError, TypeError):
            if value is not None:
                wanted = ["-1" if d == -1 else str(d) for d in spec.shape[1:]]
                bad.setdefault(
                    row,
                    f"column {name!r}: a row of shape [{', '.join(wanted)}] of "
                    f"{spec.datatype.value} is needed",
                )
            array = np.zeros(shape, spec.datatype.numpy_dtype)
        rows.append(array)
    return np.stack(rows) if rows else np.empty((0, *shape), spec.datatype.numpy_dtype)


def _matrix(column: pa.ChunkedArray, item: InputColumns) -> np.ndarray | None:
    """A list column of a matrix input in one step, when every row is a whole list of plain numbers
    (else ``None``, and the row-by-row path finds the bad ones)."""
    spec = item.spec
    if len(spec.shape) != 2 or spec.datatype is Datatype.BYTES or column.null_count or not len(column):
        return None
    array = column.combine_chunks()
    lengths = pc.list_value_length(array)
    width = pc.min_max(lengths).as_py()
    if width["min"] != width["max"] or spec.shape[1] not in (-1, width["min"]):
        return None
    values = pc.list_flatten(array)
    if values.null_count:
        return None
    try:
        converted = pc.cast(
            values, _ARROW[spec.datatype], safe=not _widening(values.type, _ARROW[spec.datatype])
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    flat = np.asarray(converted.to_numpy(zero_copy_only=False), dtype=spec.datatype.numpy_dtype)
    return flat.reshape(len(column), width["min"])


def _mark(bad: BadRows, column: pa.ChunkedArray, reason: str) -> None:
    if column.null_count:
        for row in np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False)):
            bad.setdefault(int(row), reason)


def _widening(source: pa.DataType, target: pa.DataType) -> bool:
    """An integer to a float: taken as the online path takes a JSON integer, even past float precision."""
    return bool(pa.types.is_integer(source) and pa.types.is_floating(target))


def _zero(kind: pa.DataType) -> Any:
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return "0"
    if pa.types.is_boolean(kind):
        return False
    return 0


def _bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    return b"" if value is None else str(value).encode()
