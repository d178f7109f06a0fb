"""Segments: whole files only, rotation by rows, bytes and age, retention by size and age."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow.parquet as pq

from modelport.core.settings import PayloadSettings
from modelport.monitoring.payloads import PayloadLog, PayloadStore
from modelport.monitoring.payloads.segments import MAX_PARTS

from .helpers import START, Clock, record, segment_files


def logged(tmp_path: Path, clock: Clock, **settings: object) -> PayloadLog:
    return PayloadLog(tmp_path, PayloadSettings(**settings), clock)  # type: ignore[arg-type]


def test_each_flush_writes_only_its_new_rows_as_a_part_merged_when_the_segment_ends(tmp_path: Path) -> None:
    clock = Clock()
    log = logged(tmp_path, clock, flush_interval_s=5)
    log.offer(record())
    log.step()
    store = PayloadStore(tmp_path)
    assert store.read("credit").num_rows == 2
    (first,) = segment_files(tmp_path)
    written = first.read_bytes()
    log.offer(record(at=START + 1))
    log.step()  # the flush interval has not passed: nothing new on disk yet
    assert store.read("credit").num_rows == 2
    clock.now += 5
    log.step()
    assert store.read("credit").num_rows == 4
    parts = segment_files(tmp_path)
    assert len(parts) == 2 and first.read_bytes() == written  # never rewritten: a power cut cannot take it
    assert [pq.read_metadata(p).num_rows for p in parts] == [2, 2]  # a flush costs what is new

    log.step(final=True)
    (segment,) = segment_files(tmp_path)
    assert segment.name.startswith("rows-") and f"-{os.getpid()}-" in segment.name
    assert os.stat(segment).st_mtime == START + 1  # the newest row's time
    assert store.read("credit").num_rows == 4


def test_segments_rotate_by_rows_bytes_and_age(tmp_path: Path) -> None:
    clock = Clock()
    by_rows = logged(tmp_path / "rows", clock, segment_max_rows=4)
    for i in range(5):
        by_rows.offer(record(at=START + i))
        by_rows.step()
        clock.now += 5  # a flush interval: the next step writes
    by_rows.step(final=True)
    assert len(segment_files(tmp_path / "rows")) == 3  # 4 + 4 + 2 rows

    by_bytes = logged(tmp_path / "bytes", clock, segment_max_bytes=1)
    for i in range(3):
        by_bytes.offer(record(at=START + i))
        by_bytes.step()
        clock.now += 5
    assert len(segment_files(tmp_path / "bytes")) == 3

    by_age = logged(tmp_path / "age", clock, segment_max_age_s=60, flush_interval_s=1)
    for _ in range(4):  # the first segment takes the records at 0, 30 and 60 s, the second the one at 90 s
        by_age.offer(record(at=clock.now))
        by_age.step()
        clock.now += 30
    by_age.step(final=True)
    assert len(segment_files(tmp_path / "age")) == 2
    assert PayloadStore(tmp_path / "age").read("credit").num_rows == 8


def test_retention_deletes_by_age_then_oldest_first_by_size(tmp_path: Path) -> None:
    clock = Clock()
    log = logged(tmp_path, clock, segment_max_rows=1, retention_max_age_s=100)
    for i in range(4):
        log.offer(record(at=START + 10 * i))
        log.step()  # a segment of one record each (rotation looks at each flush)
        clock.now += 5
    log.step(final=True)
    assert len(segment_files(tmp_path)) == 4
    clock.now = START + 115  # the first two segments' rows are now older than 100 s
    log.step(final=True)
    assert PayloadStore(tmp_path).read("credit")["time"].to_pylist()[0].timestamp() == START + 20

    size = segment_files(tmp_path)[0].stat().st_size
    sized = logged(tmp_path, clock, segment_max_rows=1, retention_max_bytes=size + 1)
    sized.step(final=True)
    (kept,) = segment_files(tmp_path)
    assert PayloadStore(tmp_path).read("credit")["time"].to_pylist()[0].timestamp() == START + 30
    assert sized.bytes_on_disk() == {"credit": kept.stat().st_size}


def test_a_segment_is_merged_once_it_has_max_parts(tmp_path: Path) -> None:
    clock = Clock()
    log = logged(tmp_path, clock, flush_interval_s=1)

    def flush_one_record() -> None:
        log.offer(record(at=clock.now))
        log.step()
        clock.now += 1

    for _ in range(MAX_PARTS):
        flush_one_record()
    assert len(segment_files(tmp_path)) == MAX_PARTS
    flush_one_record()  # writes its part, then merges them all
    (merged,) = segment_files(tmp_path)
    assert pq.read_metadata(merged).num_rows == 2 * (MAX_PARTS + 1)
