"""Records → Arrow tables, with redaction applied first: a dropped input is never converted at all.

Records with the same layout (name, tensor names, dtypes, row widths, redaction) are converted
together, so the per-record cost is a reshape, not a Python loop over values. A tensor's row is one
cell: a scalar when the row holds one value, else a list of the row's values, flattened.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from modelport.core.monitor_config import Redaction
from modelport.monitoring.payloads.records import PayloadRecord, ShadowRecord, row_count

__all__ = [
    "FIXED_SCHEMA",
    "INPUT_PREFIX",
    "OUTPUT_PREFIX",
    "SHADOW_PREFIX",
    "SHADOW_SCHEMA",
    "TIME_TYPE",
    "concat",
    "payload_tables",
    "shadow_tables",
]

INPUT_PREFIX, OUTPUT_PREFIX, SHADOW_PREFIX = "input.", "output.", "shadow."
"""A tensor's column is its name after one of these: an input's, an output's, a shadow's output's."""

TIME_TYPE = pa.timestamp("us", tz="UTC")
FIXED_SCHEMA = pa.schema(
    [
        ("record_id", pa.string()),
        ("request_id", pa.string()),
        ("row", pa.int32()),
        ("time", TIME_TYPE),
        ("name", pa.string()),
        ("endpoint", pa.string()),
        ("model", pa.string()),
        ("version", pa.int64()),
        ("latency_ms", pa.float64()),
    ]
)
"""The columns every payload segment has, before its ``input.*`` and ``output.*`` columns."""
SHADOW_SCHEMA = pa.schema(
    [
        ("record_id", pa.string()),
        ("request_id", pa.string()),
        ("row", pa.int32()),
        ("time", TIME_TYPE),
        ("name", pa.string()),
        ("shadow_model", pa.string()),
        ("shadow_version", pa.int64()),
    ]
)
"""The columns every shadow segment has, before its ``shadow.*`` columns."""


def payload_tables(records: Sequence[PayloadRecord]) -> dict[str, pa.Table]:
    """One table per called name, redacted as each record's rules say."""
    groups: dict[tuple[str, Hashable], list[PayloadRecord]] = defaultdict(list)
    for record in records:
        rows = row_count(record.inputs)
        layout = (_layout(record.inputs, rows), _layout(record.outputs, rows), tuple(record.redact.items()))
        groups[(record.name, layout)].append(record)
    return _by_name((name, _payload_table(group)) for (name, _), group in groups.items())


def shadow_tables(records: Sequence[ShadowRecord]) -> dict[str, pa.Table]:
    groups: dict[tuple[str, Hashable], list[ShadowRecord]] = defaultdict(list)
    for record in records:
        groups[(record.name, _layout(record.outputs, record.rows))].append(record)
    return _by_name((name, _shadow_table(group)) for (name, _), group in groups.items())


def concat(tables: Sequence[pa.Table]) -> pa.Table:
    """Tables whose columns may differ (a new input, a changed rule): missing cells become null.

    A column whose type changed (an input switched between ``keep`` and ``hash``) takes its newest
    type; older cells that cannot be cast to it become null.
    """
    if len(tables) == 1:
        return tables[0]
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        newest = {field.name: field.type for table in tables for field in table.schema}
        return pa.concat_tables([_retyped(t, newest) for t in tables], promote_options="permissive")


def _retyped(table: pa.Table, types: Mapping[str, pa.DataType]) -> pa.Table:
    for index, field in enumerate(table.schema):
        wanted = types[field.name]
        if field.type != wanted:
            try:
                column = pc.cast(table.column(index), wanted)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                column = pa.nulls(table.num_rows, wanted)
            table = table.set_column(index, pa.field(field.name, wanted), column)
    return table


def _by_name(tables: Iterable[tuple[str, pa.Table]]) -> dict[str, pa.Table]:
    grouped: dict[str, list[pa.Table]] = defaultdict(list)
    for name, table in tables:
        grouped[name].append(table)
    return {name: concat(parts) for name, parts in grouped.items()}


def _payload_table(group: Sequence[PayloadRecord]) -> pa.Table:
    counts = np.array([row_count(r.inputs) for r in group], dtype=np.int64)
    columns = _common(group, counts)
    columns["endpoint"] = _repeat([r.endpoint for r in group], counts, pa.string())
    columns["model"] = _repeat([r.model for r in group], counts, pa.string())
    columns["version"] = pa.array(np.repeat(np.array([r.version for r in group], np.int64), counts))
    columns["latency_ms"] = pa.array(np.repeat(np.array([r.latency_ms for r in group], np.float64), counts))
    first = group[0]
    for key in first.inputs:
        rule = first.redact.get(key, Redaction.KEEP)
        if rule is Redaction.DROP:
            continue
        matrix = _matrix([r.inputs[key] for r in group], counts)
        columns[INPUT_PREFIX + key] = _hashes(matrix) if rule is Redaction.HASH else _cells(matrix)
    for key in first.outputs:
        columns[OUTPUT_PREFIX + key] = _cells(_matrix([r.outputs[key] for r in group], counts))
    return pa.table(columns)


def _shadow_table(group: Sequence[ShadowRecord]) -> pa.Table:
    counts = np.array([r.rows for r in group], dtype=np.int64)
    columns = _common(group, counts)
    columns["shadow_model"] = _repeat([r.model for r in group], counts, pa.string())
    columns["shadow_version"] = pa.array(np.repeat(np.array([r.version for r in group], np.int64), counts))
    for key in group[0].outputs:
        columns[SHADOW_PREFIX + key] = _cells(_matrix([r.outputs[key] for r in group], counts))
    return pa.table(columns)


def _common(
    group: Sequence[PayloadRecord] | Sequence[ShadowRecord], counts: np.ndarray
) -> dict[str, pa.Array]:
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    times = np.array([round(r.time * 1e6) for r in group], dtype=np.int64)
    return {
        "record_id": _repeat([r.record_id for r in group], counts, pa.string()),
        "request_id": _repeat([r.request_id for r in group], counts, pa.string()),
        "row": pa.array((np.arange(int(counts.sum())) - starts).astype(np.int32)),
        "time": pa.array(np.repeat(times, counts), TIME_TYPE),
        "name": _repeat([r.name for r in group], counts, pa.string()),
    }


def _layout(tensors: Mapping[str, np.ndarray], rows: int) -> tuple[tuple[str, str, int], ...]:
    return tuple((key, a.dtype.str, _width(a, rows)) for key, a in tensors.items())


def _width(array: np.ndarray, rows: int) -> int:
    if array.ndim >= 1 and array.shape[0] == rows:
        return int(np.prod(array.shape[1:], dtype=np.int64))
    return int(array.size)  # not split by rows (e.g. a scalar output): every row gets all of it


def _matrix(arrays: Sequence[np.ndarray], counts: np.ndarray) -> np.ndarray:
    """The arrays as one [rows, width] matrix, one line per request row."""
    parts = []
    for array, rows in zip(arrays, counts.tolist(), strict=True):
        width = _width(array, rows)
        if array.ndim >= 1 and array.shape[0] == rows:
            parts.append(array.reshape(rows, width))
        else:
            parts.append(np.broadcast_to(array.reshape(1, width), (rows, width)))
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _cells(matrix: np.ndarray) -> pa.Array:
    rows, width = matrix.shape
    values = _values(matrix.reshape(-1))
    if width == 1:
        return values
    offsets = pa.array(np.arange(rows + 1, dtype=np.int32) * width)  # all zero for zero-width rows
    return pa.ListArray.from_arrays(offsets, values)


def _values(flat: np.ndarray) -> pa.Array:
    if flat.dtype.kind in "OS":
        binary = pa.array([_as_bytes(v) for v in flat.tolist()], pa.binary())
        try:
            return pc.cast(binary, pa.string())  # text, when every value is valid UTF-8
        except pa.ArrowInvalid:
            return binary
    if flat.dtype == np.float16:
        flat = flat.astype(np.float32)  # not every Parquet reader knows half floats
    return pa.array(flat)


def _hashes(matrix: np.ndarray) -> pa.Array:
    """The hex sha256 of each row: of its bytes for BYTES (length-prefixed when several), else of its
    values' raw little-endian bytes in the tensor's datatype."""
    if matrix.dtype.kind in "OSU":
        digests = [_hash_items([_as_bytes(v) for v in row]) for row in matrix.tolist()]
    else:
        contiguous = np.ascontiguousarray(matrix, dtype=matrix.dtype.newbyteorder("<"))
        digests = [hashlib.sha256(row.tobytes()).hexdigest() for row in contiguous]
    return pa.array(digests, pa.string())


def _hash_items(items: list[bytes]) -> str:
    if len(items) == 1:
        return hashlib.sha256(items[0]).hexdigest()
    digest = hashlib.sha256()
    for item in items:
        digest.update(len(item).to_bytes(8, "little"))
        digest.update(item)
    return digest.hexdigest()


def _as_bytes(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    return str(value).encode()


def _repeat(values: list[str | None], counts: np.ndarray, type_: pa.DataType) -> pa.Array:
    column = np.empty(len(values), dtype=object)
    column[:] = values
    return pa.array(np.repeat(column, counts), type_)
