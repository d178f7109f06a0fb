"""Reading a Parquet input holds a row group or two, not the file, while the model is slower."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from modelport.batch.sources import open_source

ROW_GROUP_ROWS, ROW_GROUPS, WIDTH = 50_000, 8, 10
ROW_GROUP_BYTES = ROW_GROUP_ROWS * WIDTH * 8


def test_a_slow_consumer_holds_a_few_row_groups_not_the_file(tmp_path: Path) -> None:
    path = tmp_path / "input.parquet"
    rng = np.random.default_rng(0)
    with pq.ParquetWriter(path, pa.schema([(f"x{i}", pa.float64()) for i in range(WIDTH)])) as writer:
        for _ in range(ROW_GROUPS):
            block = rng.normal(size=(ROW_GROUP_ROWS, WIDTH))
            writer.write_table(pa.table({f"x{i}": block[:, i] for i in range(WIDTH)}))
    before, peak, rows = pa.total_allocated_bytes(), 0, 0
    for batch in open_source(str(path)).batches(65_536):
        rows += batch.num_rows
        del batch
        time.sleep(0.05)  # scoring takes longer than reading: what a scan reads ahead stays in memory
        peak = max(peak, pa.total_allocated_bytes() - before)
    assert rows == ROW_GROUP_ROWS * ROW_GROUPS
    assert peak <= 3 * ROW_GROUP_BYTES, f"{peak / ROW_GROUP_BYTES:.1f} row groups held"  # the file is 8
