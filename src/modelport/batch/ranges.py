"""Chunks as row ranges of Parquet files that a worker elsewhere reads by itself: the driver plans,
from the files' footers, which row groups hold each chunk's rows, and a worker reads only those.

The ranges are ``chunks``'s (chunk i holds rows ``[i * rows, (i + 1) * rows)`` of the files in
order), so a chunk read here is the local engine's chunk with the same index.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq

from modelport.batch.chunks import Chunk
from modelport.core.errors import InvalidInput

__all__ = ["ChunkRange", "plan_ranges", "read_range"]


@dataclass(frozen=True, slots=True)
class ChunkRange:
    index: int
    start: int
    rows: int
    pieces: tuple[tuple[str, tuple[int, ...]], ...]
    """Each file that holds some of the rows, with the row groups to read from it."""
    skip: int
    """Rows of the first row group read that come before ``start``."""


def plan_ranges(files: tuple[str, ...], chunk_rows: int, first: int) -> list[ChunkRange]:
    """The ranges of chunks ``first`` onwards; only the files' footers are read."""
    groups: list[tuple[str, int, int, int]] = []  # file, row group, its first row, its rows
    offset = 0
    for file in files:
        metadata = _metadata(file)
        for group in range(metadata.num_row_groups):
            rows = metadata.row_group(group).num_rows
            if rows:
                groups.append((file, group, offset, rows))
                offset += rows
    ranges = []
    position = 0
    for index in range(first, -(-offset // chunk_rows)):
        start = index * chunk_rows
        end = min(start + chunk_rows, offset)
        while groups[position][2] + groups[position][3] <= start:
            position += 1
        pieces: dict[str, list[int]] = {}
        for file, group, group_start, _ in groups[position:]:
            if group_start >= end:
                break
            pieces.setdefault(file, []).append(group)
        ranges.append(
            ChunkRange(
                index,
                start,
                end - start,
                tuple((f, tuple(g)) for f, g in pieces.items()),
                start - groups[position][2],
            )
        )
    return ranges


def read_range(chunk: ChunkRange) -> Chunk:
    """The chunk's rows, read from its row groups alone."""
    try:
        tables = [pq.ParquetFile(file).read_row_groups(list(groups)) for file, groups in chunk.pieces]
        table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    except (OSError, pa.ArrowInvalid) as error:
        raise InvalidInput(f"cannot read {chunk.pieces[0][0]}: {str(error).splitlines()[0]}") from None
    return Chunk(chunk.index, chunk.start, table.slice(chunk.skip, chunk.rows))


def _metadata(file: str) -> pq.FileMetaData:
    try:
        return pq.read_metadata(file)
    except (OSError, pa.ArrowInvalid) as error:
        raise InvalidInput(f"cannot read {file}: {str(error).splitlines()[0]}") from None
