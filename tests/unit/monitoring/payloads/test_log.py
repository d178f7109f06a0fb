"""The payload log's writer: redaction before the disk, sampling, a bounded buffer, the paused state."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from modelport.core.settings import PayloadSettings
from modelport.monitoring.payloads import PayloadLog, PayloadStore
from modelport.monitoring.payloads.log import BUFFER_FULL, PAUSED, WRITE_ERROR

from .helpers import SENTINEL, Clock, record, segment_files


def write(tmp_path: Path, *records: object, **settings: object) -> PayloadStore:
    log = PayloadLog(tmp_path / "payloads", PayloadSettings(**settings), Clock())  # type: ignore[arg-type]
    for r in records:
        assert log.offer(r)  # type: ignore[arg-type]
    log.step(final=True)
    assert not log.paused
    return PayloadStore(tmp_path / "payloads")


def raw_bytes(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in directory.rglob("*") if p.is_file())


def test_a_dropped_input_never_reaches_the_disk(tmp_path: Path) -> None:
    store = write(tmp_path, record(redact={"ssn": "drop"}), record(3, redact={"ssn": "drop"}, at=2e9))
    table = store.read("credit")
    assert table.num_rows == 5 and "input.ssn" not in table.column_names and "input.x" in table.column_names
    assert SENTINEL.encode() not in raw_bytes(tmp_path / "payloads")


def test_a_kept_input_is_found_in_the_files_so_the_check_above_can_fail(tmp_path: Path) -> None:
    store = write(tmp_path, record())
    assert store.read("credit")["input.ssn"].to_pylist() == [f"{SENTINEL}-0", f"{SENTINEL}-1"]
    assert SENTINEL.encode() in raw_bytes(tmp_path / "payloads")


def test_a_hashed_input_is_the_sha256_of_each_row(tmp_path: Path) -> None:
    table = write(tmp_path, record(redact={"ssn": "hash", "x": "hash"})).read("credit")
    assert table["input.ssn"].to_pylist() == [
        hashlib.sha256(f"{SENTINEL}-{i}".encode()).hexdigest() for i in range(2)
    ]
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert table["input.x"].to_pylist() == [hashlib.sha256(row.tobytes()).hexdigest() for row in x]
    assert SENTINEL.encode() not in raw_bytes(tmp_path / "payloads")


def test_cells_are_scalars_for_one_value_a_row_and_lists_otherwise(tmp_path: Path) -> None:
    table = write(tmp_path, record()).read("credit")
    assert table["output.score"].to_pylist() == [0.25, 0.25]
    assert table["output.p"].to_pylist() == [pytest.approx([0.1, 0.9])] * 2
    assert table["input.x"].to_pylist() == [[0, 1, 2], [3, 4, 5]]
    assert (
        table["row"].to_pylist() == [0, 1] and str(table.schema.field("time").type) == "timestamp[us, tz=UTC]"
    )


def test_sampling_zero_never_samples_and_one_always_does() -> None:
    log = PayloadLog(Path("unused"), PayloadSettings(), seed=7)
    assert not any(log.sampled(0.0) for _ in range(1000))
    assert all(log.sampled(1.0) for _ in range(1000))
    assert 150 < sum(log.sampled(0.2) for _ in range(1000)) < 250


def test_a_full_buffer_drops_and_counts_without_waiting(tmp_path: Path) -> None:
    log = PayloadLog(tmp_path, PayloadSettings(buffer_size=2), Clock())
    assert [log.offer(record(request_id=str(i))) for i in range(5)] == [True, True, False, False, False]
    assert log.dropped_total() == {("credit", BUFFER_FULL): 3}
    log.step(final=True)
    assert log.records_total() == {"credit": 2}
    assert log.offer(record())  # drained: room again


def test_a_failing_directory_pauses_the_log_and_it_resumes_once_writable(tmp_path: Path) -> None:
    blocked = tmp_path / "payloads"
    blocked.write_text("not a directory")  # mkdir under it fails, for root too
    clock = Clock()
    log = PayloadLog(blocked, PayloadSettings(flush_interval_s=5), clock)
    log.offer(record())
    log.step()
    assert log.status()["state"] == "paused" and "Error" in log.status()["reason"]
    assert not log.offer(record())
    clock.now += 1
    log.step()  # not yet time to retry
    assert log.paused
    assert log.dropped_total() == {("credit", WRITE_ERROR): 1, ("credit", PAUSED): 1}

    blocked.unlink()
    clock.now += 5
    log.step()
    assert log.status() == {"state": "ok", "reason": None}
    assert log.offer(record(at=clock.now))
    log.step(final=True)
    assert PayloadStore(blocked).read("credit").num_rows == 2


def test_a_request_without_rows_is_counted_and_writes_nothing(tmp_path: Path) -> None:
    log = PayloadLog(tmp_path, PayloadSettings(), Clock())
    log.offer(record(0))
    log.step(final=True)
    assert not log.paused and log.records_total() == {"credit": 1}
    assert segment_files(tmp_path) == []
