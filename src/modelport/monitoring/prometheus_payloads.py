"""Prometheus exposition of the payload log's counters and state, rendered at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from modelport.monitoring.payloads import PayloadLog, PayloadStore

__all__ = ["PayloadCollector"]


class PayloadCollector(Collector):
    def __init__(self, payloads: PayloadLog, store: PayloadStore) -> None:
        self._payloads = payloads
        self._store = store

    def collect(self) -> Iterator[Metric]:
        log = self._payloads
        records = CounterMetricFamily(
            "modelport_payload_records", "Records written to the payload log.", labels=["name"]
        )
        for name, count in sorted(log.records_total().items()):
            records.add_metric([name], count)
        dropped = CounterMetricFamily(
            "modelport_payload_records_dropped",
            "Records the payload log dropped: buffer_full, paused, write_error, unconvertible.",
            labels=["name", "reason"],
        )
        for (name, reason), count in sorted(log.dropped_total().items()):
            dropped.add_metric([name, reason], count)
        paused = GaugeMetricFamily("modelport_payload_log_paused", "1 while the payload log cannot write.")
        paused.add_metric([], 1 if log.paused else 0)
        size = GaugeMetricFamily(
            "modelport_payload_log_bytes", "Bytes of payload segments on disk.", labels=["name"]
        )
        for name, count in sorted(log.bytes_on_disk().items()):
            size.add_metric([name], count)
        unreadable = GaugeMetricFamily(
            "modelport_payload_segments_unreadable",
            "Payload segments this process's reads (drift, exports) skipped because they could not be read.",
        )
        unreadable.add_metric([], self._store.unreadable)
        yield from (records, dropped, paused, size, unreadable)
        shipper = log.shipper
        if shipper is not None:
            uploaded = CounterMetricFamily(
                "modelport_payload_segments_uploaded",
                "Completed payload segments this process uploaded to payloads.url.",
            )
            uploaded.add_metric([], shipper.uploaded)
            failed = CounterMetricFamily(
                "modelport_payload_upload_failures",
                "Uploads of payload segments to payloads.url that failed (each is tried again later).",
            )
            failed.add_metric([], shipper.failures)
            waiting, waiting_bytes = shipper.backlog()
            backlog = GaugeMetricFamily(
                "modelport_payload_upload_backlog",
                "Finished payload segments on local disk waiting for their upload to payloads.url.",
            )
            backlog.add_metric([], waiting)
            backlog_bytes = GaugeMetricFamily(
                "modelport_payload_upload_backlog_bytes",
                "Bytes of the finished payload segments waiting for their upload to payloads.url.",
            )
            backlog_bytes.add_metric([], waiting_bytes)
            lost = CounterMetricFamily(
                "modelport_payload_segments_deleted_unshipped",
                "Finished payload segments local retention deleted before their upload (a full backlog).",
            )
            lost.add_metric([], shipper.deleted_unshipped)
            yield from (uploaded, failed, backlog, backlog_bytes, lost)
