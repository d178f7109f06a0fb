"""Reference data given at registration, checked against the signature and turned into features.

The accepted forms: a numpy array, ``{input name: array}``, or a table (pyarrow, pandas, anything
``pyarrow.table`` understands, or a ``.parquet``/``.csv`` file). A table has one column per
feature: for a model with one input, one column per position in order (header names are free);
for several inputs, one column per feature by name (``age``, or ``x[0]``, ``x[1]`` for a 2-D one).
The result is a flat table of feature columns, which the registry stores as Parquet.

Each column is cast to its input's datatype, so that the reference holds the kind of values the
payload log will: numbers for a numeric input (a CSV file's text, or integers for an ``FP32``
input, become numbers of that type), booleans for ``BOOL``. A CSV file is read as text and cast
this way, so a column of a ``BYTES`` input keeps what was written (``02139``, not ``2139``). Numbers
given for a ``BYTES`` input stay numbers: written as text, one number has many spellings (``1.2``,
``1.20``), so drift reads the live text as numbers instead (``monitoring/drift/schema.py``).

A reference file may come from anyone allowed to register, so it is read as data only and within
bounds checked before anything is decoded: a ``.npy`` without pickles or object arrays, whose
declared shape the file's bytes must hold; a ``.parquet`` whose footer declares at most
``MAX_REFERENCE_CELLS`` values and ``MAX_REFERENCE_BYTES`` decoded; and at most
``MAX_REFERENCE_COLUMNS`` columns in any form.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.lib.format as npy
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from modelport.core.errors import InvalidInput
from modelport.core.tensors import Datatype, Signature, TensorSpec
from modelport.monitoring.drift.features import belongs_to, feature_names, is_tabular

__all__ = [
    "MAX_REFERENCE_BYTES",
    "MAX_REFERENCE_CELLS",
    "MAX_REFERENCE_COLUMNS",
    "ReferenceData",
    "cast_to_signature",
    "read_reference_file",
    "reference_table",
]

ReferenceData = Any
"""A numpy array, a mapping of input name to array, or a table ``pyarrow.table`` accepts."""

_SUFFIXES = (".npy", ".parquet", ".csv")
MAX_REFERENCE_COLUMNS = 10_000
MAX_REFERENCE_CELLS = 50_000_000
"""Values (rows x columns) a reference file may declare."""
MAX_REFERENCE_BYTES = 512 * 1024 * 1024
"""Bytes a reference file may decode to, as its header or footer declares them."""


def read_reference_file(path: Path) -> np.ndarray[Any, Any] | pa.Table:
    """A reference file as an array (``.npy``) or a table (``.parquet``, ``.csv`` with or without
    a header row)."""
    suffix = path.suffix.lower()
    if suffix not in _SUFFIXES:
        raise InvalidInput(f"reference data must be .npy, .parquet or .csv, got {path.name!r}")
    try:
        if suffix == ".npy":
            _check_npy(path)
            return np.asarray(np.load(path, allow_pickle=False))
        if suffix == ".parquet":
            _check_parquet(path)
            return pq.read_table(path)
        return _read_csv(path)
    except (ValueError, OSError, pa.ArrowException) as exc:
        raise InvalidInput(f"cannot read reference data {path.name!r}: {exc}") from None


def _check_npy(path: Path) -> None:
    """Refuse an object array, or a declared shape the file's bytes cannot hold, before ``np.load``
    allocates for it."""
    with path.open("rb") as handle:
        version = npy.read_magic(handle)
        if version == (1, 0):
            shape, _, dtype = npy.read_array_header_1_0(handle)
        elif version == (2, 0):
            shape, _, dtype = npy.read_array_header_2_0(handle)
        else:
            raise InvalidInput(f"reference data {path.name!r}: unsupported .npy version {version}")
        available = path.stat().st_size - handle.tell()
    if dtype.hasobject:
        raise InvalidInput(
            f"reference data {path.name!r} holds Python objects; use numbers, booleans or text"
        )
    declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if declared > available or declared > MAX_REFERENCE_BYTES:
        raise InvalidInput(
            f"reference data {path.name!r} declares shape {shape} ({declared} bytes) "
            f"but holds {available} bytes (at most {MAX_REFERENCE_BYTES} are read)"
        )
    if len(shape) > 1 and int(np.prod(shape[1:], dtype=object)) > MAX_REFERENCE_COLUMNS:
        raise InvalidInput(f"reference data {path.name!r} has more than {MAX_REFERENCE_COLUMNS} columns")


def _check_parquet(path: Path) -> None:
    """Refuse a Parquet file whose footer declares too many columns, values or decoded bytes: a small
    file can decode to gigabytes (a long run of one value compresses to almost nothing)."""
    meta = pq.read_metadata(path)
    if meta.num_columns > MAX_REFERENCE_COLUMNS:
        raise InvalidInput(f"reference data {path.name!r} has more than {MAX_REFERENCE_COLUMNS} columns")
    cells = meta.num_rows * meta.num_columns
    decoded = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    if cells > MAX_REFERENCE_CELLS or decoded > MAX_REFERENCE_BYTES:
        raise InvalidInput(
            f"reference data {path.name!r} is too large: {meta.num_rows} rows x {meta.num_columns} "
            f"columns, {decoded} bytes decoded (limits: {MAX_REFERENCE_CELLS} values, "
            f"{MAX_REFERENCE_BYTES} bytes)"
        )


def _read_csv(path: Path) -> pa.Table:
    with path.open(encoding="utf-8", errors="replace") as handle:
        first = handle.readline()
    cells = first.strip().split(",")
    if len(cells) > MAX_REFERENCE_COLUMNS:
        raise InvalidInput(f"reference data {path.name!r} has more than {MAX_REFERENCE_COLUMNS} columns")
    numeric = all(_is_number(cell) for cell in cells)
    options = pacsv.ReadOptions(autogenerate_column_names=numeric)
    with pacsv.open_csv(path, read_options=options) as header:
        names = header.schema.names
    as_text = pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=True)
    return pacsv.read_csv(path, read_options=options, convert_options=as_text)  # cast by reference_table


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def reference_table(data: ReferenceData, signature: Signature) -> pa.Table:
    """The reference's feature columns, named by ``feature_names``; InvalidInput when its shape or
    columns do not match the model's inputs."""
    specs = [spec for spec in signature.inputs if is_tabular(spec)]
    if not specs:
        raise InvalidInput(
            "reference data needs a model input of rank 1 or 2; "
            f"this model's inputs are {[list(s.shape) for s in signature.inputs]}"
        )
    if isinstance(data, np.ndarray):
        table = _from_array(data, specs)
    elif isinstance(data, Mapping):
        table = _from_mapping(data, specs)
    else:
        table = _from_table(_as_table(data), specs)
    for field in table.schema:
        if not _usable(field.type):
            raise InvalidInput(
                f"reference column {field.name!r} holds {field.type}; use numbers, booleans or text"
            )
    if table.num_rows == 0:
        raise InvalidInput("reference data has no rows")
    return cast_to_signature(table, signature)


def cast_to_signature(table: pa.Table, signature: Signature) -> pa.Table:
    """Each feature column as its input's datatype (see the module docstring); InvalidInput when a
    value does not fit. A column of no input is kept as it is."""
    columns = {}
    for name in table.column_names:
        spec = next((s for s in signature.inputs if is_tabular(s) and belongs_to(name, s.name)), None)
        column = table.column(name)
        columns[name] = column if spec is None else _cast_column(name, column, spec)
    return pa.table(columns)


def _cast_column(name: str, column: pa.ChunkedArray, spec: TensorSpec) -> pa.ChunkedArray:
    if spec.datatype is Datatype.BYTES:
        return column
    target = pa.from_numpy_dtype(spec.datatype.numpy_dtype)
    if spec.datatype is Datatype.FP16:  # drift compares every number as float64 anyway
        target = pa.float32()
    if column.type == target:
        return column
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        column = pc.utf8_trim_whitespace(column)
        if pa.types.is_integer(target):
            try:
                return pc.cast(column, target)
            except pa.ArrowInvalid:  # "3.0" is a whole number too
                column = _parsed(name, column, pa.float64(), spec)
    if pa.types.is_floating(column.type) and pa.types.is_integer(target):
        column = pc.if_else(pc.is_nan(column), pa.scalar(None, column.type), column)  # missing, not 0
    return _parsed(name, column, target, spec)


def _parsed(name: str, column: pa.ChunkedArray, target: pa.DataType, spec: TensorSpec) -> pa.ChunkedArray:
    try:
        return pc.cast(column, target)
    except pa.ArrowException as exc:
        raise InvalidInput(
            f"reference column {name!r} does not fit input {spec.name!r} ({spec.datatype}): {exc}"
        ) from None


def _from_array(array: np.ndarray[Any, Any], specs: list[TensorSpec]) -> pa.Table:
    if array.size == 0:
        raise InvalidInput("reference data has no rows")
    if array.ndim not in (1, 2):
        raise InvalidInput(f"reference data must be a 1-D or 2-D array, got {array.ndim}-D")
    if len(specs) == 1:
        return _columns(specs[0], array)
    widths = [_width(spec) for spec in specs]
    columns = array.reshape(len(array), -1).shape[1]
    if any(w != 1 for w in widths) or columns != len(specs):
        raise InvalidInput(
            f"the model has {len(specs)} inputs ({', '.join(s.name for s in specs)}): give reference data "
            "as {input name: array} or a table with one column per input"
        )
    return _table({spec.name: array.reshape(len(array), -1)[:, i] for i, spec in enumerate(specs)})


def _from_mapping(data: Mapping[str, Any], specs: list[TensorSpec]) -> pa.Table:
    _check_names(set(data), {s.name for s in specs}, "input")
    parts = [_columns(spec, np.asarray(data[spec.name])) for spec in specs]
    if len({part.num_rows for part in parts}) > 1:
        raise InvalidInput("reference data: every input needs the same number of rows")
    columns = {name: part.column(name) for part in parts for name in part.column_names}
    return pa.table(columns)


def _from_table(table: pa.Table, specs: list[TensorSpec]) -> pa.Table:
    if len(specs) == 1:
        spec = specs[0]
        width = _width(spec)
        if width is not None and table.num_columns != width:
            raise InvalidInput(
                f"input {spec.name!r} has {width} feature(s) but the reference table has "
                f"{table.num_columns} column(s); give one column per position, in order"
            )
        return table.rename_columns(feature_names(spec, table.num_columns))
    if any(_width(spec) is None for spec in specs):
        raise InvalidInput("reference tables need fixed input widths when the model has several inputs")
    expected = [name for spec in specs for name in feature_names(spec, _width(spec) or 0)]
    _check_names(set(table.column_names), set(expected), "column")
    return table.select(expected)


def _columns(spec: TensorSpec, array: np.ndarray[Any, Any]) -> pa.Table:
    if array.ndim not in (1, 2):
        raise InvalidInput(f"reference data for {spec.name!r} must be a 1-D or 2-D array, got {array.ndim}-D")
    if array.size == 0:
        raise InvalidInput("reference data has no rows")
    matrix = array.reshape(len(array), -1)
    width = _width(spec)
    if width is not None and matrix.shape[1] != width:
        raise InvalidInput(
            f"input {spec.name!r} has {width} feature(s) per row but the reference data has {matrix.shape[1]}"
        )
    names = feature_names(spec, matrix.shape[1])
    return _table({name: matrix[:, i] for i, name in enumerate(names)})


def _table(columns: Mapping[str, np.ndarray[Any, Any]]) -> pa.Table:
    arrays = {}
    for name, values in columns.items():
        try:
            arrays[name] = pa.array(values)
        except (TypeError, ValueError, pa.ArrowException):
            raise InvalidInput(
                f"reference column {name!r} mixes types or holds objects; use numbers, booleans or text"
            ) from None
    return pa.table(arrays)


def _usable(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_boolean(kind)
        or pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
    )


def _width(spec: TensorSpec) -> int | None:
    if len(spec.shape) == 1:
        return 1
    return None if spec.shape[1] < 0 else spec.shape[1]


def _check_names(given: set[str], expected: set[str], what: str) -> None:
    problems = []
    if unknown := sorted(given - expected):
        problems.append(f"unknown {what}s {unknown}")
    if missing := sorted(expected - given):
        problems.append(f"missing {what}s {missing}")
    if problems:
        raise InvalidInput(
            f"reference data does not match the signature: {'; '.join(problems)} "
            f"(expected {sorted(expected)})"
        )


def _as_table(data: Any) -> pa.Table:
    if isinstance(data, pa.Table):
        return data
    try:
        return pa.table(data)
    except (TypeError, ValueError, pa.ArrowException):
        raise InvalidInput(
            "reference data must be a numpy array, {input name: array}, or a table "
            f"(pyarrow or pandas), got {type(data).__name__}"
        ) from None
