"""Part files: one per chunk, in the output directory, each written under a temporary name and
renamed into place, so a part either is complete or does not exist.

Parquet keeps list columns; CSV has none, so a list output ``p`` becomes the columns ``p[0]``,
``p[1]`` …; JSONL writes one object per row.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from modelport.monitoring.drift.features import feature_names_for

__all__ = ["EXTENSIONS", "encode", "part_name", "write_part"]

EXTENSIONS = {"parquet": "parquet", "csv": "csv", "jsonl": "jsonl"}
TEMPORARY_PREFIX = ".tmp-"


def part_name(index: int, fmt: str) -> str:
    return f"part-{index:06d}.{EXTENSIONS[fmt]}"


def write_part(directory: Path, index: int, table: pa.Table, fmt: str) -> str:
    """Write ``table`` as part ``index``; returns the file's name. A failed write leaves no file."""
    name = part_name(index, fmt)
    temporary = directory / f"{TEMPORARY_PREFIX}{name}"
    try:
        with temporary.open("wb") as handle:
            encode(table, fmt, handle)
        os.replace(temporary, directory / name)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return name


def encode(table: pa.Table, fmt: str, handle: BinaryIO | pa.NativeFile) -> None:
    """``table`` in ``fmt``, written to ``handle``."""
    if fmt == "parquet":
        pq.write_table(table, handle)
    elif fmt == "csv":
        pacsv.write_csv(_flat(table), handle)
    else:
        for batch in table.to_batches(max_chunksize=4096):
            handle.write(b"".join(orjson.dumps(row) + b"\n" for row in batch.to_pylist()))


def _flat(table: pa.Table) -> pa.Table:
    columns: dict[str, pa.Array | pa.ChunkedArray] = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_fixed_size_list(column.type):
            width = column.type.list_size
            values = pc.list_flatten(column)
            for i, feature in enumerate(feature_names_for(name, width, bare_single=False)):
                columns[feature] = values.take(pa.array(range(i, len(values), width)))
        else:
            columns[name] = column
    return pa.table(columns)
