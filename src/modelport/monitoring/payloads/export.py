"""Payload rows as files people open elsewhere: Parquet as stored, CSV, or JSON lines.

CSV cannot hold lists or bytes: a list cell becomes its JSON text and a binary cell its base64.
JSON lines gives one object per row; times are ISO-8601 UTC in both text formats.

CSV is what spreadsheets open, and some text in it comes from callers (request ids, string inputs):
a text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading
``'`` so that no spreadsheet reads it as a formula. Parquet and JSON lines keep the values as logged.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from modelport.core.errors import InvalidInput
from modelport.monitoring.payloads.store import PayloadStore, as_utc

__all__ = ["FORMATS", "MEDIA_TYPES", "check_format", "export_chunks", "select_rows"]

FORMATS = ("parquet", "csv", "jsonl")
MEDIA_TYPES = {
    "parquet": "application/vnd.apache.parquet",
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/x-ndjson",
}
_CHUNK_ROWS = 4096
_FORMULA_START = r"^([=+\-@\t\r])"


def check_format(name: str) -> str:
    if name not in FORMATS:
        raise InvalidInput(f"unknown export format {name!r}; use one of {', '.join(FORMATS)}")
    return name


def select_rows(
    store: PayloadStore,
    name: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    version: int | None = None,
    limit: int | None = None,
) -> pa.Table:
    """``name``'s rows with ``since <= time < until``, of model ``version`` if given, the newest
    ``limit`` of them; naive times are UTC."""
    since = None if since is None else as_utc(since)
    until = None if until is None else as_utc(until)
    if since is not None and until is not None and since >= until:
        raise InvalidInput(f"since ({since.isoformat()}) must be before until ({until.isoformat()})")
    if limit is not None and limit < 1:
        raise InvalidInput(f"limit must be at least 1, got {limit}")
    if version is None:
        return store.read(name, since=since, until=until, last_rows=limit)
    table = store.read(name, since=since, until=until)
    table = table.filter(pc.equal(table["version"], version))
    return table if limit is None else table.slice(max(table.num_rows - limit, 0))


def export_chunks(table: pa.Table, format_: str) -> Iterator[bytes]:
    """The export of ``table`` in pieces, ready to stream or write one after the other; ``format_``
    is one of ``FORMATS`` (``check_format`` it first: a generator only runs once iterated)."""
    if format_ == "parquet":
        buffer = io.BytesIO()
        pq.write_table(table, buffer, compression="zstd")
        yield buffer.getvalue()
    elif format_ == "csv":
        yield from _csv(table)
    else:
        yield from _jsonl(table)


def _csv(table: pa.Table) -> Iterator[bytes]:
    text = pa.table(
        {
            name: _inert(_as_text(column))
            for name, column in zip(table.column_names, table.columns, strict=True)
        }
    )
    sink = io.BytesIO()
    with pa_csv.CSVWriter(sink, text.schema) as writer:
        for batch in text.to_batches(_CHUNK_ROWS):
            writer.write_batch(batch)
            yield _take(sink)
    yield _take(sink)


def _as_text(column: pa.ChunkedArray) -> pa.ChunkedArray | pa.Array:
    kind = column.type
    if pa.types.is_timestamp(kind):
        return pc.strftime(column, format="%Y-%m-%dT%H:%M:%SZ")
    if pa.types.is_binary(kind):
        return pa.array([None if v is None else base64.b64encode(v).decode() for v in column.to_pylist()])
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return pa.array(
            [
                None if v is None else orjson.dumps(v, default=_bytes_default).decode()
                for v in column.to_pylist()
            ],
            pa.string(),
        )
    return column


def _inert(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """A text column whose cells no spreadsheet takes for a formula (see the module's docstring)."""
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        return column
    return pc.replace_substring_regex(column, pattern=_FORMULA_START, replacement=r"'\1", max_replacements=1)


def _jsonl(table: pa.Table) -> Iterator[bytes]:
    for batch in table.to_batches(_CHUNK_ROWS):
        lines = [
            orjson.dumps(row, default=_bytes_default, option=orjson.OPT_APPEND_NEWLINE)
            for row in batch.to_pylist()
        ]
        yield b"".join(lines)


def _bytes_default(value: Any) -> str:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise TypeError(f"cannot export a {type(value).__name__}")


def _take(sink: io.BytesIO) -> bytes:
    data = sink.getvalue()
    sink.seek(0)
    sink.truncate()
    return data
