"""Prometheus exposition of the per-version statistics, rendered at scrape time (nothing on the hot path)."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from modelport.monitoring.drift.report import status_value
from modelport.monitoring.stats import LATENCY_BUCKETS_S, STAGE_BUCKETS_S, InferenceStats, StageTotals

BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)
"""Upper bounds (rows) of the batch-size histogram."""

STAGE_LABELS = {
    "compute_input": "decode",
    "queue": "queue",
    "compute_infer": "inference",
    "compute_output": "encode",
}
"""The ``stage`` label of each statistics-extension stage (their names follow that extension)."""

__all__ = ["DriftCollector", "ModelportCollector", "VersionView"]

DRIFT_MODEL_FEATURE = "_model"
"""The ``feature`` label of a model's (or endpoint's) overall drift status."""


@dataclass(frozen=True, slots=True)
class VersionView:
    model: str
    version: str
    stats: InferenceStats
    queue_depth: int
    memory_bytes: int | None


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
        stage = HistogramMetricFamily(
            "modelport_stage_duration_seconds",
            "Time a request spent in each stage: decode, queue, inference (its batch's model call), encode.",
            labels=[*labels, "stage"],
        )
        rows = CounterMetricFamily("modelport_inference_rows", "Rows predicted.", labels=labels)
        batches = CounterMetricFamily(
            "modelport_batches", "Model calls, by batch size in rows.", labels=[*labels, "batch_size"]
        )
        batch_rows = HistogramMetricFamily(
            "modelport_batch_size_rows",
            "Rows per model call (the batches the batcher formed).",
            labels=labels,
        )
        depth = GaugeMetricFamily("modelport_queue_depth", "Requests waiting in the batcher.", labels=labels)
        loaded = GaugeMetricFamily("modelport_loaded_versions", "Model versions loaded in this process.")
        memory = GaugeMetricFamily(
            "modelport_loaded_version_memory_bytes",
            "Resident memory the process grew by while loading and warming up a version (an estimate).",
            labels=labels,
        )
        for view in views:
            key = [view.model, view.version]
            s = view.stats
            for protocol, count in s.by_protocol.items():
                requests.add_metric([*key, protocol], count)
            for kind, count in s.failures.items():
                failures.add_metric([*key, kind], count)
            latency.add_metric(key, _buckets(s.latency_buckets, LATENCY_BUCKETS_S), s.success.ns / 1e9)
            for name, counts in s.stage_buckets.items():
                seconds = s.stages[name].ns / 1e9
                stage.add_metric([*key, STAGE_LABELS[name]], _buckets(counts, STAGE_BUCKETS_S), seconds)
            rows.add_metric(key, s.inference_count)
            for size, totals in s.batches.items():
                batches.add_metric([*key, str(size)], totals.count)
            batch_rows.add_metric(key, _size_buckets(s.batches), sum_value=s.inference_count)
            depth.add_metric(key, view.queue_depth)
            if view.memory_bytes is not None:
                memory.add_metric(key, view.memory_bytes)
        loaded.add_metric([], len(views))
        yield from (requests, failures, latency, stage, rows, batches, batch_rows, depth, loaded, memory)


def _size_buckets(batches: Mapping[int, StageTotals]) -> list[tuple[str, float]]:
    """Cumulative counts of model calls per ``BATCH_SIZE_BUCKETS`` bound, from calls counted per size."""
    counts = [0] * (len(BATCH_SIZE_BUCKETS) + 1)
    for size, totals in batches.items():
        counts[bisect.bisect_left(BATCH_SIZE_BUCKETS, size)] += totals.count
    return _buckets(counts, BATCH_SIZE_BUCKETS)


def _buckets(counts: Sequence[int], bounds: Sequence[float]) -> list[tuple[str, float]]:
    cumulative = 0
    out: list[tuple[str, float]] = []
    for bound, count in zip([*(str(float(b)) for b in bounds), "+Inf"], counts, strict=True):
        cumulative += count
        out.append((bound, cumulative))
    return out


class DriftCollector(Collector):
    """The last drift reports (name → report dict, as the management API returns them) as gauges.

    Output features are labelled ``output.<feature>`` so they never collide with an input's.
    """

    def __init__(self, reports: Callable[[], Mapping[str, Mapping[str, Any]]]) -> None:
        self._reports = reports

    def collect(self) -> Iterator[Metric]:
        score = GaugeMetricFamily(
            "modelport_drift_score",
            "Drift statistic of a feature, live window against the reference.",
            labels=["name", "feature", "statistic"],
        )
        status = GaugeMetricFamily(
            "modelport_drift_status",
            "Drift status: -1 insufficient data, 0 ok, 1 warning, 2 alert; feature _model for the model.",
            labels=["name", "feature"],
        )
        for name, report in self._reports().items():
            status.add_metric([name, DRIFT_MODEL_FEATURE], status_value(report["status"]))
            features = [(f["feature"], f) for f in report["features"]]
            features += [(f"output.{f['feature']}", f) for f in report["outputs"]]
            for label, feature in features:
                status.add_metric([name, label], status_value(feature["status"]))
                for statistic, value in feature["statistics"].items():
                    score.add_metric([name, label, statistic], value)
        yield from (score, status)
