"""Fixed row ranges: whatever batch sizes the reader yields, chunk i holds rows
``[i * rows, (i + 1) * rows)``, so the part files of a resumed job line up with the first run's.

Batches of one chunk may differ in schema (JSONL blocks infer their own types: 1 in one, 1.5 in
the next); they are joined with pyarrow's permissive promotion (int64 and double → double), and a
column that is a number in one and text in another becomes text."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from modelport.core.errors import InvalidInput

__all__ = ["Chunk", "chunked"]


@dataclass(frozen=True, slots=True)
class Chunk:
    index: int
    start: int
    """The input's row index of the chunk's first row."""
    table: pa.Table


def chunked(batches: Iterable[pa.RecordBatch], rows: int) -> Iterator[Chunk]:
    pending: list[pa.RecordBatch] = []
    count = index = start = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        pending.append(batch)
        count += batch.num_rows
        while count >= rows:
            table = _joined(pending)
            yield Chunk(index, start, table.slice(0, rows))
            rest = table.slice(rows)
            pending = rest.to_batches()
            count -= rows
            index, start = index + 1, start + rows
    if count:
        yield Chunk(index, start, _joined(pending))


def _joined(batches: list[pa.RecordBatch]) -> pa.Table:
    schema = batches[0].schema
    if all(batch.schema == schema for batch in batches):
        return pa.Table.from_batches(batches)
    tables = [pa.Table.from_batches([b]) for b in batches]
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    try:  # 2.5 in one block, "x" in another: as text, which conversion parses (or finds bad)
        return pa.concat_tables([_as_text(t, _mixed(tables)) for t in tables], promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as error:
        raise InvalidInput(f"the input's columns change type from row to row: {error}") from None


def _mixed(tables: list[pa.Table]) -> set[str]:
    kinds: dict[str, set[pa.DataType]] = {}
    for table in tables:
        for field in table.schema:
            if not pa.types.is_null(field.type):
                kinds.setdefault(field.name, set()).add(field.type)
    return {name for name, types in kinds.items() if len(types) > 1}


def _as_text(table: pa.Table, names: set[str]) -> pa.Table:
    for name in names & set(table.column_names):
        index = table.column_names.index(name)
        table = table.set_column(index, name, pc.cast(table.column(name), pa.string()))
    return table
