"""A flush's parts are made durable together: with ``syncfs`` or, where it is missing, an fsync per
file and folder; a part that cannot be written does not cost the others theirs."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelport.core.settings import PayloadSettings
from modelport.monitoring.payloads import PayloadStore, durable
from modelport.monitoring.payloads.columns import payload_tables
from modelport.monitoring.payloads.segments import SegmentWriter

from .helpers import Clock, record, segment_files


def staged_rows(writer: SegmentWriter, *names: str) -> None:
    for name in names:
        for table_name, table in payload_tables([record(name=name)]).items():
            writer.append(table_name, "rows", table, 1)


@pytest.mark.parametrize("sync", ["syncfs", "fsync"])
def test_every_part_of_a_flush_is_in_place_and_no_temporary_is_left(
    tmp_path: Path, sync: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if sync == "syncfs" and durable.load_libc() is None:
        pytest.skip("syncfs is Linux's")
    monkeypatch.setattr(durable, "LIBC", durable.load_libc() if sync == "syncfs" else None)
    writer = SegmentWriter(tmp_path, PayloadSettings(), Clock())
    staged_rows(writer, "a", "b", "c")
    writer.flush()
    for name in "abc":
        assert PayloadStore(tmp_path).read(name).num_rows == 2
    assert len(segment_files(tmp_path)) == 3
    assert not [p for p in tmp_path.rglob(".*.tmp")]


def test_a_part_that_cannot_be_written_does_not_cost_the_parts_before_it(tmp_path: Path) -> None:
    writer = SegmentWriter(tmp_path, PayloadSettings(), Clock())
    staged_rows(writer, "a", "b", "c")
    (tmp_path / "b").write_text("a file where b's folder should be")
    with pytest.raises(OSError):
        writer.flush()
    assert PayloadStore(tmp_path).read("a").num_rows == 2  # staged before the failure: committed
    assert writer.discard() == {"b": 1, "c": 1}  # what the log counts as write_error
    assert not [p for p in tmp_path.rglob(".*.tmp")]
