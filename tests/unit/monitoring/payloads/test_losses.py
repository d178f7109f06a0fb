"""What the payload log must not lose: memory bounded in bytes, one bad record dropped alone, other
writers' open segments kept by retention, no duplicate rows after a crash in the middle of a merge."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from modelport.core.settings import PayloadSettings
from modelport.monitoring.payloads import PayloadLog, PayloadStore
from modelport.monitoring.payloads.log import BUFFER_FULL, UNCONVERTIBLE

from .helpers import START, Clock, record, segment_files


def logged(directory: Path, clock: Clock, **settings: object) -> PayloadLog:
    return PayloadLog(directory, PayloadSettings(**settings), clock)  # type: ignore[arg-type]


def test_memory_is_bounded_in_bytes_for_all_names_together(tmp_path: Path) -> None:
    clock = Clock()
    big = record(1000)  # ~60 KB of tensors, one record
    log = logged(tmp_path, clock, buffer_max_bytes=250_000, flush_interval_s=5)
    log.step()  # the first flush is due at once; the next one in 5 s
    names = [f"m{i}" for i in range(8)]
    accepted = [log.offer(dataclasses.replace(big, name=name)) for name in names]
    assert accepted == [True] * 4 + [False] * 4  # far below buffer_size records: bytes bound it
    assert log.dropped_total() == {(name, BUFFER_FULL): 1 for name in names[4:]}

    log.step()  # not due, but the converted rows take over half the memory: written early
    assert sum(PayloadStore(tmp_path).read(name).num_rows for name in names[:4]) == 4000
    assert log.offer(dataclasses.replace(big, name="m9"))  # the memory is free again


def test_a_record_that_cannot_be_converted_is_dropped_alone(tmp_path: Path) -> None:
    clock = Clock()
    log = logged(tmp_path, clock)
    bad = record(name="b", request_id="bad")
    bad = dataclasses.replace(bad, inputs={**bad.inputs, "x": np.ones((2, 3), np.complex64)})  # no Arrow type
    zero_width = record(1, name="b", request_id="empty")
    zero_width = dataclasses.replace(zero_width, inputs={"x": np.zeros((1, 0), np.float32)})
    for r in (record(name="a"), record(name="b", request_id="good"), bad, zero_width):
        assert log.offer(r)
    log.step(final=True)
    assert log.dropped_total() == {("b", UNCONVERTIBLE): 1}
    assert log.records_total() == {"a": 1, "b": 2}
    table = PayloadStore(tmp_path).read("b")
    assert sorted(zip(table["request_id"].to_pylist(), table["input.x"].to_pylist(), strict=True)) == [
        ("empty", []),
        ("good", [0, 1, 2]),
        ("good", [3, 4, 5]),
    ]


def test_retention_spares_a_live_writers_open_segment_but_not_a_dead_ones(tmp_path: Path) -> None:
    clock = Clock()
    settings = {"retention_max_bytes": 1, "flush_interval_s": 5}
    open_writer = logged(tmp_path, clock, **settings)  # another worker, its segment still open
    open_writer.offer(record(request_id="open"))
    open_writer.step()
    crashed = tmp_path / "crashed"
    _write_then_crash(crashed)
    (left,) = segment_files(crashed / "credit")
    shutil.move(left, tmp_path / "credit" / left.name)

    retaining = logged(tmp_path, clock, **settings)
    retaining.offer(record(request_id="finished", at=START + 1))
    retaining.step(final=True)  # writes and finishes its segment
    retaining.step(final=True)  # retention: over the size limit, so all but the open segment goes
    assert PayloadStore(tmp_path).read("credit")["request_id"].to_pylist() == ["open", "open"]

    open_writer.offer(record(request_id="open", at=START + 2))
    open_writer.step(final=True)
    assert PayloadStore(tmp_path).read("credit").num_rows == 4  # nothing it wrote was lost


def _write_then_crash(directory: Path) -> None:
    """A writer in another process that writes a part of an open segment, then dies without a word."""
    code = (
        "import os; from pathlib import Path;"
        "from modelport.core.settings import PayloadSettings;"
        "from modelport.monitoring.payloads import PayloadLog;"
        "from tests.unit.monitoring.payloads.helpers import record;"
        f"log = PayloadLog(Path({str(directory)!r}), PayloadSettings());"
        "log.offer(record(request_id='crashed')); log.step(); os._exit(0)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[4])


def test_parts_left_by_a_crash_after_their_merge_are_not_read_twice(tmp_path: Path) -> None:
    clock = Clock()
    log = logged(tmp_path, clock, flush_interval_s=1)
    for _ in range(3):
        log.offer(record(at=clock.now))
        log.step()
        clock.now += 1
    parts = segment_files(tmp_path)
    saved = {part: part.read_bytes() for part in parts}
    log.step(final=True)
    for part, data in saved.items():  # as if the process died between the merge and the deletes
        part.write_bytes(data)
    assert len(segment_files(tmp_path)) == 4
    assert PayloadStore(tmp_path).read("credit").num_rows == 6
    log.step(final=True)  # retention deletes the duplicates
    assert len(segment_files(tmp_path)) == 1


def test_a_damaged_segment_is_skipped_and_counted(tmp_path: Path) -> None:
    log = logged(tmp_path, Clock())
    log.offer(record())
    log.step(final=True)
    (good,) = segment_files(tmp_path)
    damaged = bytearray(good.read_bytes())
    damaged[4:40] = b"\xff" * 36  # the first column chunk; the footer at the end still reads
    good.with_name("rows-20260101T000000-1-badbad-000000.parquet").write_bytes(bytes(damaged))
    store = PayloadStore(tmp_path)
    assert store.read("credit").num_rows == 2
    assert store.unreadable == 1
