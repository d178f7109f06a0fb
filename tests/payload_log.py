"""Writes payload-log segments in the layout the payload log's contract fixes, for drift tests.

``<data dir>/payloads/<name>/rows-<segment>.parquet``, one row per request row, with the fixed
columns and ``input.<name>`` / ``output.<name>`` tensor columns (a scalar per row for a 1-D
tensor, the row's values as a list for a 2-D one). Like the payload log's own segments, it also
has ``record_id`` (the key its reader joins shadow answers on) and a ``rows-`` file name.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

Array = np.ndarray[Any, Any]


def write_segment(
    data_dir: Path,
    name: str,
    *,
    model: str | None,
    version: int | None,
    inputs: dict[str, Array],
    outputs: dict[str, Array] | None = None,
    endpoint: str | None = None,
    start: datetime | None = None,
) -> Path:
    """One segment of ``len(rows)`` single-row requests, a millisecond apart from ``start``."""
    rows = len(next(iter(inputs.values())))
    start = start or datetime.now(UTC)
    ids = pa.array([uuid.uuid4().hex for _ in range(rows)], pa.string())
    columns: dict[str, Any] = {
        "record_id": ids,
        "request_id": ids,
        "row": pa.array(np.zeros(rows, dtype=np.int32), pa.int32()),
        "time": pa.array(
            [start + timedelta(milliseconds=i) for i in range(rows)], pa.timestamp("us", tz="UTC")
        ),
        "name": pa.array([name] * rows, pa.string()),
        "endpoint": pa.array([endpoint] * rows, pa.string()),
        "model": pa.array([model] * rows, pa.string()),
        "version": pa.array([version] * rows, pa.int64()),
        "latency_ms": pa.array(np.ones(rows)),
    }
    for prefix, tensors in (("input.", inputs), ("output.", outputs or {})):
        for tensor, values in tensors.items():
            columns[prefix + tensor] = _cells(np.asarray(values))
    folder = data_dir / "payloads" / name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"rows-{start.strftime('%Y%m%dT%H%M%S%f')}-{uuid.uuid4().hex[:8]}.parquet"
    pq.write_table(pa.table(columns), path)
    return path


def _cells(values: Array) -> pa.Array:
    if values.ndim == 1 or values.shape[1] == 1:
        return pa.array(values.reshape(len(values)))
    return pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), values.shape[1]).cast(
        pa.list_(pa.from_numpy_dtype(values.dtype))
    )
