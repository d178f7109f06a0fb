"""The payload log's S3 side, in process, against the session's SeaweedFS behind a ``Gate``.

Uploads run on their own thread: while the store hangs, the writer keeps writing every record at
once, a stop gives up on the upload after its bound and leaves the segments on local disk, and the
next start ships them once the store answers, so a reader sees every record exactly once. Reads
keep each shipped segment's footer: a second read asks the store only for the footers of segments
that are new. Segments local retention deletes before their upload are counted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import obstore
import pytest

from modelport.core.settings import PayloadSettings, StorageSettings
from modelport.monitoring.payloads import PayloadLog, PayloadStore
from modelport.monitoring.payloads.remote import RemoteSegments
from modelport.monitoring.payloads.segments import segment_of
from modelport.monitoring.payloads.shipping import SegmentShipper
from tests.e2e.conftest import free_port
from tests.e2e.s3.conftest import BUCKET
from tests.e2e.s3.gate import Gate
from tests.s3 import ACCESS_KEY, SECRET_KEY, SeaweedFS
from tests.unit.monitoring.payloads.helpers import Clock, record

NAME = "credit"


def until(condition: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + 10  # bounds a writer held by the store (its client waits 30 s)
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def storage(endpoint: str) -> StorageSettings:
    return StorageSettings(
        s3_endpoint_url=endpoint,
        s3_region="us-east-1",
        s3_access_key_id=ACCESS_KEY,
        s3_secret_access_key=SECRET_KEY,
    )


def finished(home: Path) -> list[Path]:
    """The finished segments waiting in ``home`` (parts excluded)."""
    return [p for p in (home / NAME).glob("rows-*.parquet") if segment_of(p) is None]


@pytest.fixture
def gate(seaweed: SeaweedFS) -> Iterator[Gate]:
    gate = Gate(seaweed)
    yield gate
    gate.shut()


def test_a_hanging_store_never_holds_the_writer_and_its_backlog_is_shipped_once_it_answers(
    tmp_path: Path, seaweed: SeaweedFS, gate: Gate, s3_url: str
) -> None:
    url = f"{s3_url}/payloads"
    settings = PayloadSettings(url=url, flush_interval_s=0.05, segment_max_age_s=0.05)
    home = tmp_path / "payloads"

    def started() -> PayloadLog:
        shipper = SegmentShipper(home, url, storage(gate.endpoint), settings, final_s=0.5)
        log = PayloadLog(home, settings, shipper=shipper)
        log.start()
        return log

    def offer(log: PayloadLog, batch: str, count: int = 3) -> None:
        for i in range(count):
            assert log.offer(record(at=time.time(), request_id=f"{batch}{i}"))

    first = started()  # the gate is shut: every upload hangs
    offer(first, "a")
    until(lambda: first.records_total().get(NAME) == 3, "the writer did not write")
    until(lambda: finished(home), "no segment finished")
    offer(first, "b")  # after a segment finished: an upload is under way, and hangs
    until(lambda: first.records_total().get(NAME) == 6, "the writer waited for the store")
    assert first.shipper is not None
    until(lambda: first.shipper and first.shipper.backlog()[0] >= 1, "the backlog is not counted")
    first.stop()  # the final upload gives up after its bound
    assert not first.dropped_total()
    assert len(finished(home)) >= 2, "the segments wait on local disk"

    second = started()  # the next start ships what the last one left
    offer(second, "c")
    until(lambda: second.records_total().get(NAME) == 3, "the writer did not write")
    gate.open()
    until(lambda: not finished(home), "the backlog was not shipped once the store answered")
    second.stop()
    assert not list((home / NAME).glob("*.parquet"))
    assert second.shipper is not None and second.shipper.backlog() == (0, 0)

    reader = PayloadStore(tmp_path / "reader", RemoteSegments(url, storage(seaweed.endpoint)))
    rows = reader.read(NAME)
    requests = rows["request_id"].to_pylist()
    assert sorted(set(requests)) == [f"{b}{i}" for b in "abc" for i in range(3)]
    assert len(requests) == 9 * 2  # each record twice (two rows), once


def test_a_second_read_asks_the_store_for_no_footer_but_those_of_new_segments(
    tmp_path: Path, seaweed: SeaweedFS, gate: Gate, s3_url: str
) -> None:
    gate.open()
    settings = PayloadSettings()
    writer = PayloadLog(tmp_path / "writer", settings)
    bucket = seaweed.client(BUCKET)
    prefix = s3_url.removeprefix(f"s3://{BUCKET}/")
    sizes: dict[str, int] = {}

    def ship(batch: str) -> str:
        """One more segment in the bucket: its request path."""
        writer.offer(record(at=time.time(), request_id=batch))
        writer.step(final=True)
        (path,) = finished(tmp_path / "writer")
        key = f"{prefix}/{NAME}/{path.name}"
        sizes[f"/{BUCKET}/{key}"] = path.stat().st_size
        obstore.put(bucket, key, path)
        path.unlink()
        return f"/{BUCKET}/{key}"

    def footers_read(read: Callable[[], object]) -> set[str]:
        """The segments whose footer (their last 8 bytes) ``read`` asked for, whole or by range."""
        gate.requests.clear()
        read()
        asked = set()
        for request in gate.requests:
            size = sizes.get(request.path)
            if size is None:
                continue
            last = size if request.range is None else int(request.range.rsplit("-", 1)[1] or size)
            if request.method == "HEAD" or last >= size - 8:
                asked.add(request.path)
        return asked

    for batch in ("a", "b", "c"):
        ship(batch)
    store = PayloadStore(tmp_path / "reader", RemoteSegments(f"{s3_url}", storage(gate.endpoint)))
    assert footers_read(lambda: store.read(NAME)) == set(sizes)  # so the check below can fail
    assert footers_read(lambda: store.read(NAME)) == set()

    new = ship("d")
    assert footers_read(lambda: store.read(NAME)) == {new}
    assert store.read(NAME)["request_id"].to_pylist() == ["a", "a", "b", "b", "c", "c", "d", "d"]


def test_segments_retention_deletes_before_their_upload_are_counted_as_a_full_backlog(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = "s3://models/nowhere"
    settings = PayloadSettings(url=url, retention_max_bytes=1)
    home = tmp_path / "payloads"
    shipper = SegmentShipper(home, url, storage(f"http://127.0.0.1:{free_port()}"), settings)  # never started
    log = PayloadLog(home, settings, clock=Clock(), shipper=shipper)
    for batch in ("a", "b"):
        log.offer(record(request_id=batch))
        log.step(final=True)  # retention, then a finished segment
    assert shipper.deleted_unshipped == 1
    assert shipper.backlog() == (1, finished(home)[0].stat().st_size)
    assert "the payload upload backlog is full" in caplog.text
