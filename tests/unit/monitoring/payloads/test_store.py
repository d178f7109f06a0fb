"""Reading back: time order, filters, first/last rows across segments of several processes, shadows."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modelport.core.errors import InvalidInput
from modelport.core.settings import PayloadSettings
from modelport.monitoring.payloads import PayloadLog, PayloadStore, ShadowRecord, export_chunks

from .helpers import START, Clock, record


def moment(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@pytest.fixture
def store(tmp_path: Path) -> PayloadStore:
    """Two writers (as two worker processes would be) whose segments interleave in time:
    one writes the even seconds 0-9, the other the odd ones."""
    for offset in (0, 1):
        log = PayloadLog(tmp_path, PayloadSettings(segment_max_rows=4), Clock())
        for i in range(offset, 10, 2):
            log.offer(record(at=START + i, request_id=f"q{i}", version=1 + i % 2))
            log.step()  # segments of two requests (four rows) each
        log.step(final=True)
    return PayloadStore(tmp_path)


def seconds(table: object) -> list[float]:
    return [t.timestamp() - START for t in table["time"].to_pylist()]  # type: ignore[index]


def test_rows_come_back_in_time_order(store: PayloadStore) -> None:
    assert seconds(store.read("credit")) == [i for i in range(10) for _ in range(2)]


def test_filters_by_time_and_row_counts(store: PayloadStore) -> None:
    assert seconds(store.read("credit", since=moment(START + 7))) == [7, 7, 8, 8, 9, 9]
    assert seconds(store.read("credit", until=moment(START + 2))) == [0, 0, 1, 1]
    assert seconds(store.read("credit", last_rows=3)) == [8, 9, 9]
    assert seconds(store.read("credit", first_rows=3)) == [0, 0, 1]
    window = store.read("credit", since=moment(START + 2), until=moment(START + 6), last_rows=5)
    assert seconds(window) == [3, 4, 4, 5, 5]
    assert seconds(store.read("credit", until=moment(START + 5), last_rows=4)) == [3, 3, 4, 4]
    assert seconds(store.read("credit", since=moment(START + 5), first_rows=4)) == [5, 5, 6, 6]


def test_nothing_logged_is_an_empty_table_with_the_fixed_columns(tmp_path: Path) -> None:
    table = PayloadStore(tmp_path).read("nothing")
    assert table.num_rows == 0
    assert table.column_names[:8] == [
        "request_id",
        "row",
        "time",
        "name",
        "endpoint",
        "model",
        "version",
        "latency_ms",
    ]
    assert "shadow_version" in table.column_names


def test_names_outside_the_directory_are_refused(tmp_path: Path) -> None:
    for name in ("../etc", ".hidden", ""):
        with pytest.raises(InvalidInput):
            PayloadStore(tmp_path).read(name)


def test_a_shadows_answer_joins_its_primary_row_even_when_request_ids_repeat(tmp_path: Path) -> None:
    log = PayloadLog(tmp_path, PayloadSettings(), Clock())
    first, second = record(request_id="same", at=START), record(request_id="same", at=START + 1)
    log.offer(first)
    log.offer(second)
    answer = {"score": np.array([7.0, 8.0]), "p": np.array([[0.5, 0.5], [0.4, 0.6]], np.float32)}
    log.offer(ShadowRecord(second.record_id, "same", START + 2, "credit", "credit", 2, 2, answer))
    log.step(final=True)
    table = PayloadStore(tmp_path).read("credit")
    assert table["shadow_version"].to_pylist() == [None, None, 2, 2]
    assert table["shadow.score"].to_pylist() == [None, None, 7.0, 8.0]
    assert "record_id" not in table.column_names

    lines = b"".join(export_chunks(table, "jsonl")).decode().splitlines()
    assert len(lines) == 4 and '"shadow.score":7.0' in lines[2]


def test_a_changed_rule_reads_back_with_the_newest_type(tmp_path: Path) -> None:
    log = PayloadLog(tmp_path, PayloadSettings(), Clock())
    log.offer(record(at=START))
    log.step(final=True)
    log.offer(record(at=START + 1, redact={"x": "hash"}))
    log.step(final=True)
    x = PayloadStore(tmp_path).read("credit")["input.x"].to_pylist()
    assert x[:2] == [None, None] and all(len(h) == 64 for h in x[2:])


def test_segments_written_by_other_tools_are_read_too(tmp_path: Path) -> None:
    """Any ``rows-*.parquet`` with the fixed columns counts: no footer time range, no ``record_id``."""
    (tmp_path / "credit").mkdir()
    times = pa.array([moment(START + 1), moment(START)], pa.timestamp("us", tz="UTC"))
    columns = {
        "request_id": ["b", "a"],
        "row": pa.array([0, 0], pa.int32()),
        "time": times,
        "input.x": [2.0, 1.0],
    }
    pq.write_table(pa.table(columns), tmp_path / "credit" / "rows-elsewhere.parquet")
    table = PayloadStore(tmp_path).read("credit", last_rows=1)
    assert table["request_id"].to_pylist() == ["b"] and table["shadow_version"].to_pylist() == [None]
