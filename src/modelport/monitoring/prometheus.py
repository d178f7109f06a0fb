"""Prometheus exposition of the per-version statistics and the payload log, rendered at scrape time
(nothing on the hot path)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from modelport.monitoring.payloads import PayloadLog
from modelport.monitoring.stats import LATENCY_BUCKETS_S, InferenceStats

__all__ = ["ModelportCollector", "PayloadCollector", "VersionView"]


@dataclass(frozen=True, slots=True)
class VersionView:
    model: str
    version: str
    stats: InferenceStats
    queue_depth: int


class ModelportCollector(Collector):
    def __init__(self, versions: Callable[[], Sequence[VersionView]]) -> None:
        self._versions = versions

    def collect(self) -> Iterator[Metric]:
        views = list(self._versions())
        labels = ["model", "version"]
        requests = CounterMetricFamily(
            "modelport_requests",
            "Inference requests handled, failed ones included.",
            labels=[*labels, "protocol"],
        )
        failures = CounterMetricFamily(
            "modelport_request_failures", "Inference requests that failed.", labels=[*labels, "kind"]
        )
        latency = HistogramMetricFamily(
            "modelport_request_duration_seconds",
            "Time from admission to the last byte encoded.",
            labels=labels,
        )
        stage = CounterMetricFamily(
            "modelport_stage_duration_seconds",
            "Time spent per stage, summed over requests.",
            labels=[*labels, "stage"],
        )
        rows = CounterMetricFamily("modelport_inference_rows", "Rows predicted.", labels=labels)
        batches = CounterMetricFamily(
            "modelport_batches", "Model calls, by batch size in rows.", labels=[*labels, "batch_size"]
        )
        depth = GaugeMetricFamily("modelport_queue_depth", "Requests waiting in the batcher.", labels=labels)
        loaded = GaugeMetricFamily("modelport_loaded_versions", "Model versions loaded in this process.")
        for view in views:
            key = [view.model, view.version]
            s = view.stats
            for protocol, count in s.by_protocol.items():
                requests.add_metric([*key, protocol], count)
            for kind, count in s.failures.items():
                failures.add_metric([*key, kind], count)
            latency.add_metric(key, _buckets(s.latency_buckets), sum_value=s.success.ns / 1e9)
            for name, totals in s.stages.items():
                stage.add_metric([*key, name], totals.ns / 1e9)
            rows.add_metric(key, s.inference_count)
            for size, totals in s.batches.items():
                batches.add_metric([*key, str(size)], totals.count)
            depth.add_metric(key, view.queue_depth)
        loaded.add_metric([], len(views))
        yield from (requests, failures, latency, stage, rows, batches, depth, loaded)


class PayloadCollector(Collector):
    def __init__(self, payloads: PayloadLog) -> None:
        self._payloads = payloads

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
        yield from (records, dropped, paused, size)


def _buckets(counts: Sequence[int]) -> list[tuple[str, float]]:
    cumulative = 0
    out: list[tuple[str, float]] = []
    for bound, count in zip([*map(str, LATENCY_BUCKETS_S), "+Inf"], counts, strict=True):
        cumulative += count
        out.append((bound, cumulative))
    return out
