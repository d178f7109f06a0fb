"""Fixed row ranges: whatever batch sizes the reader yields, chunk i holds rows
``[i * rows, (i + 1) * rows)``, so the part files of a resumed job line up with the first run's."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import pyarrow as pa

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
            table = pa.Table.from_batches(pending)
            yield Chunk(index, start, table.slice(0, rows))
            rest = table.slice(rows)
            pending = rest.to_batches()
            count -= rows
            index, start = index + 1, start + rows
    if count:
        yield Chunk(index, start, pa.Table.from_batches(pending))
