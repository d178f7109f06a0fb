"""A chunk read by a Ray worker from its row range is the local engine's chunk of the same index,
read from the row groups that hold it and no others."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modelport.batch.chunks import chunked
from modelport.batch.ranges import plan_ranges, read_range
from modelport.batch.sources import open_source
from modelport.core.errors import InvalidInput


def test_row_ranges_across_row_groups_and_files_are_the_local_engines_chunks(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    pq.write_table(pa.table({"x": range(0, 23)}), tmp_path / "in" / "a.parquet", row_group_size=7)
    pq.write_table(pa.table({"x": range(23, 30)}), tmp_path / "in" / "b.parquet", row_group_size=3)
    source = open_source(str(tmp_path / "in"))
    local = list(chunked(source.batches(10), 10))
    ranges = plan_ranges(source.files, 10, 0)
    assert [(r.index, r.start, r.rows) for r in ranges] == [(0, 0, 10), (1, 10, 10), (2, 20, 10)]
    for ours, theirs in zip((read_range(r) for r in ranges), local, strict=True):
        assert (ours.index, ours.start) == (theirs.index, theirs.start)
        assert ours.table.equals(theirs.table)
    a, b = (str(tmp_path / "in" / name) for name in ("a.parquet", "b.parquet"))
    assert ranges[1].pieces == ((a, (1, 2)),)  # rows 10-19: row groups [7, 14) and [14, 21)
    assert ranges[2].pieces == ((a, (2, 3)), (b, (0, 1, 2)))  # rows 20-29, from both files
    assert (ranges[1].skip, ranges[2].skip) == (3, 6)
    assert [r.index for r in plan_ranges(source.files, 10, 2)] == [2]  # a resumed job's chunks only


def test_a_truncated_file_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "in.parquet"
    pq.write_table(pa.table({"x": range(10)}), path)
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(InvalidInput, match=f"cannot read {path}"):
        plan_ranges((str(path),), 10, 0)
