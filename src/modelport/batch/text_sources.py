"""CSV and JSONL read as streams of record batches in which a malformed line is still a row.

A CSV row with the wrong number of cells, or a JSONL line that is not a JSON object, cannot be
parsed into columns, but it is a row of the input: dropping it would shift the index of every row
after it, and the index is the default id that joins output to input. So each one becomes a row
of nulls at its own position, with the reason in ``MALFORMED_COLUMN``; scoring reports it as a bad
row (the errors file, ``--max-errors``) and never shows the column to the model.

Blank lines are not rows, in either format, as pyarrow reads them. A quoted CSV cell may hold a
line break (``newlines_in_values``), wherever the file's blocks are cut.
"""

from __future__ import annotations

import io
from collections import deque
from collections.abc import Iterator
from typing import IO, Any

import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
from pyarrow import fs as pafs

__all__ = ["MALFORMED_COLUMN", "csv_batches", "jsonl_batches", "without_malformed"]

MALFORMED_COLUMN = "__modelport_malformed__"
"""Null for a row that was parsed; for a malformed line, why it could not be."""

_JSON_KINDS = {
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}
_BLOCK_BYTES = 1 << 20
_HEADER_ROWS = 1
"""pyarrow numbers CSV rows from 1, the header included (blank lines are not counted)."""


def without_malformed(schema: pa.Schema) -> pa.Schema:
    index = schema.get_field_index(MALFORMED_COLUMN)
    return schema if index < 0 else schema.remove(index)


def csv_batches(path: str, name: str, filesystem: pafs.FileSystem | None = None) -> Iterator[pa.RecordBatch]:
    """The file's rows, every cell as text (converted later, as the online path converts JSON);
    ``path`` is on ``filesystem`` when one is given (S3), else local."""

    def opened() -> Any:
        return path if filesystem is None else filesystem.open_input_stream(path)

    read = pacsv.ReadOptions(use_threads=False, block_size=_BLOCK_BYTES)  # one thread: rows numbered in order
    header = pacsv.open_csv(
        opened(),
        read_options=read,
        parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=_skip),
    )
    names = header.schema.names
    pending: deque[tuple[int, str]] = deque()  # (row index in the file, reason), in file order

    def skip(row: Any) -> str:
        reason = (
            f"malformed CSV row {row.number} of {name}: {row.actual_columns} cells where the header has "
            f"{row.expected_columns}"
        )
        pending.append((row.number - 1 - _HEADER_ROWS, reason))
        return "skip"

    reader = pacsv.open_csv(
        opened(),
        read_options=read,
        parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=skip),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=True
        ),
    )
    schema = reader.schema
    emitted = 0
    for batch in reader:
        for piece in _spliced(batch, pending, emitted):
            emitted += piece.num_rows
            yield piece
    for _, reason in pending:  # malformed rows after the last parsed one
        yield _null_row(schema, reason)


def _skip(row: Any) -> str:
    return "skip"


def _spliced(batch: pa.RecordBatch, pending: deque[tuple[int, str]], cursor: int) -> Iterator[pa.RecordBatch]:
    """``batch`` (rows from ``cursor`` on) with the pending malformed rows put back in their place."""
    position = 0
    while True:
        if pending and pending[0][0] == cursor:
            yield _null_row(batch.schema, pending.popleft()[1])
            cursor += 1
            continue
        left = batch.num_rows - position
        if left == 0:
            return
        take = min(left, pending[0][0] - cursor) if pending else left
        yield _marked(batch.slice(position, take))
        position += take
        cursor += take


def jsonl_batches(handle: IO[bytes], name: str) -> Iterator[pa.RecordBatch]:
    """JSON objects, one per line, read a block of whole lines at a time. A block pyarrow cannot
    read is read line by line, so that only its bad lines are malformed rows."""
    line = 1
    for block in _line_blocks(handle):
        try:
            table = pajson.read_json(
                io.BytesIO(block), read_options=pajson.ReadOptions(use_threads=False, block_size=len(block))
            )
            table = table.append_column(MALFORMED_COLUMN, pa.nulls(table.num_rows, pa.string()))
        except pa.ArrowInvalid:
            table = _line_by_line(block, line, name)
        yield from table.to_batches()
        line += block.count(b"\n")


def _line_blocks(handle: IO[bytes]) -> Iterator[bytes]:
    rest = b""
    while data := handle.read(_BLOCK_BYTES):
        data = rest + data
        cut = data.rfind(b"\n") + 1
        rest = data[cut:]
        if cut:
            yield data[:cut]
    if rest.strip():
        yield rest + b"\n"


def _line_by_line(block: bytes, first_line: int, name: str) -> pa.Table:
    rows: list[dict[str, Any]] = []
    for number, text in enumerate(block.split(b"\n")[:-1], start=first_line):
        if not text.strip():
            continue
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError as error:
            rows.append({MALFORMED_COLUMN: f"malformed line {number} of {name}: not JSON ({error.msg})"})
            continue
        if not isinstance(value, dict):
            kind = _JSON_KINDS.get(type(value), "a value")
            rows.append({MALFORMED_COLUMN: f"malformed line {number} of {name}: {kind}, not a JSON object"})
        else:
            value.pop(MALFORMED_COLUMN, None)
            rows.append({**value, MALFORMED_COLUMN: None})
    return _table(rows)


def _table(rows: list[dict[str, Any]]) -> pa.Table:
    """The rows as a table, with a column for every key any row has (missing ones are null). A
    column whose values are of several types (1 and "x") becomes text, which conversion then parses
    as the online path parses JSON text."""
    keys = [k for k in dict.fromkeys(k for row in rows for k in row) if k != MALFORMED_COLUMN]
    columns = {key: _column([row.get(key) for row in rows]) for key in [*keys, MALFORMED_COLUMN]}
    columns[MALFORMED_COLUMN] = columns[MALFORMED_COLUMN].cast(pa.string())
    return pa.table(columns)


def _column(values: list[Any]) -> pa.Array:
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([_scalar_text(v) for v in values])


def _scalar_text(value: Any) -> Any:
    if value is None or isinstance(value, str | list | dict):
        return value
    return orjson.dumps(value).decode()


def _marked(batch: pa.RecordBatch) -> pa.RecordBatch:
    return batch.append_column(MALFORMED_COLUMN, pa.nulls(batch.num_rows, pa.string()))


def _null_row(schema: pa.Schema, reason: str) -> pa.RecordBatch:
    columns = [pa.nulls(1, field.type) for field in schema]
    return pa.RecordBatch.from_arrays([*columns, pa.array([reason])], [*schema.names, MALFORMED_COLUMN])
