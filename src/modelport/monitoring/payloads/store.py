"""Stand-in ``PayloadStore.read`` over the contract's layout (replaced by the payloads branch)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

__all__ = ["PayloadStore"]

_FIXED = pa.schema(
    [
        ("request_id", pa.string()),
        ("row", pa.int32()),
        ("time", pa.timestamp("us", tz="UTC")),
        ("name", pa.string()),
        ("endpoint", pa.string()),
        ("model", pa.string()),
        ("version", pa.int64()),
        ("latency_ms", pa.float64()),
    ]
)


class PayloadStore:
    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def read(
        self,
        name: str,
        *,
        last_rows: int | None = None,
        first_rows: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> pa.Table:
        files = sorted((self.directory / name).glob("*.parquet"))
        if not files:
            return _FIXED.empty_table()
        table = pa.concat_tables([pq.read_table(f) for f in files], promote_options="default")
        table = table.sort_by([("time", "ascending"), ("row", "ascending")])
        if since is not None:
            table = table.filter(pc.greater_equal(table["time"], pa.scalar(since, _FIXED.field("time").type)))
        if until is not None:
            table = table.filter(pc.less(table["time"], pa.scalar(until, _FIXED.field("time").type)))
        if first_rows is not None:
            table = table.slice(0, first_rows)
        if last_rows is not None:
            table = table.slice(max(table.num_rows - last_rows, 0))
        return table
