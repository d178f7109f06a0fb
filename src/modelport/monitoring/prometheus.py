"""Prometheus exposition of the per-version statistics, rendered at scrape time (nothing on the hot path).

The per-version families are written as text directly: a version's lines are cached by the caller
(``version_parts``) and reused while the version served nothing new, so a scrape of hundreds of idle
versions costs little more than one of a single version."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from modelport.monitoring.drift.report import status_value
from modelport.monitoring.stats import LATENCY_BUCKETS_S, STAGE_BUCKETS_S, InferenceStats, StageHistograms

BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)
"""Upper bounds (rows) of the batch-size histogram."""

STAGE_LABELS = {
    "compute_input": "decode",
    "queue": "queue",
    "compute_infer": "inference",
    "compute_output": "encode",
}
"""The ``stage`` label of each statistics-extension stage (their names follow that extension)."""

__all__ = ["DriftCollector", "Parts", "VersionView", "render_versions", "version_parts"]

DRIFT_MODEL_FEATURE = "_model"
"""The ``feature`` label of a model's (or endpoint's) overall drift status."""


@dataclass(frozen=True, slots=True)
class VersionView:
    """One loaded version's counters, copied on the event loop so that rendering can run in a thread
    while requests keep counting into the originals."""

    model: str
    version: str
    requests: Mapping[str, int]
    """By protocol."""
    failures: Mapping[str, int]
    """By error kind."""
    latency_buckets: Sequence[int]
    latency_ns: int
    rows: int
    queue_depth: int
    memory_bytes: int | None
    histograms: StageHistograms | None
    """The version's own stage and batch-size histograms; ``None`` unless its model asked for them."""

    @classmethod
    def of(
        cls, model: str, version: str, stats: InferenceStats, queue_depth: int, memory_bytes: int | None
    ) -> VersionView:
        return cls(
            model,
            version,
            dict(stats.by_protocol),
            dict(stats.failures),
            list(stats.latency_buckets),
            stats.success.ns,
            stats.inference_count,
            queue_depth,
            memory_bytes,
            stats.histograms.copy() if stats.detailed else None,
        )


Parts = tuple[str, ...]
"""A version's lines of each family in ``FAMILIES`` order."""

FAMILIES = (
    ("modelport_requests_total", "counter", "Inference requests handled, failed ones included."),
    ("modelport_request_failures_total", "counter", "Inference requests that failed."),
    ("modelport_request_duration_seconds", "histogram", "Time from admission to the last byte encoded."),
    (
        "modelport_stage_duration_seconds",
        "histogram",
        "Time a request spent in each stage: decode, queue, inference (its batch's model call), encode; "
        "empty model and version: every version without detailed metrics.",
    ),
    ("modelport_inference_rows_total", "counter", "Rows predicted."),
    (
        "modelport_batches_total",
        "counter",
        "Model calls, by batch size in rows (versions with detailed metrics).",
    ),
    (
        "modelport_batch_size_rows",
        "histogram",
        "Rows per model call (the batches the batcher formed); "
        "empty model and version: every version without detailed metrics.",
    ),
    ("modelport_queue_depth", "gauge", "Requests waiting in the batcher."),
    ("modelport_loaded_versions", "gauge", "Model versions loaded in this process."),
    (
        "modelport_loaded_version_memory_bytes",
        "gauge",
        "Resident memory the process grew by while loading and warming up a version (an estimate).",
    ),
)
_REQUESTS, _FAILURES, _LATENCY, _STAGES, _ROWS, _BATCHES, _BATCH_ROWS, _DEPTH, _LOADED, _MEMORY = range(10)


def version_parts(view: VersionView) -> Parts:
    """One version's series, as text lines per family (empty where it has none)."""
    base = {"model": view.model, "version": view.version}
    key = _labels(base)
    parts = [""] * len(FAMILIES)
    parts[_REQUESTS] = "".join(
        f"modelport_requests_total{{{_labels({**base, 'protocol': p})}}} {_num(n)}\n"
        for p, n in view.requests.items()
    )
    parts[_FAILURES] = "".join(
        f"modelport_request_failures_total{{{_labels({**base, 'kind': k})}}} {_num(n)}\n"
        for k, n in view.failures.items()
    )
    latency = _buckets(view.latency_buckets, LATENCY_BUCKETS_S)
    parts[_LATENCY] = _histogram("modelport_request_duration_seconds", base, latency, view.latency_ns / 1e9)
    parts[_ROWS] = f"modelport_inference_rows_total{{{key}}} {_num(view.rows)}\n"
    if view.histograms is not None:
        parts[_STAGES], parts[_BATCH_ROWS] = _stage_and_batch_sizes(base, view.histograms)
        parts[_BATCHES] = "".join(
            f"modelport_batches_total{{{_labels({**base, 'batch_size': str(size)})}}} {_num(n)}\n"
            for size, n in view.histograms.batch_sizes.items()
        )
    parts[_DEPTH] = f"modelport_queue_depth{{{key}}} {_num(view.queue_depth)}\n"
    if view.memory_bytes is not None:
        parts[_MEMORY] = f"modelport_loaded_version_memory_bytes{{{key}}} {_num(view.memory_bytes)}\n"
    return tuple(parts)


def render_versions(versions: Sequence[Parts], server: StageHistograms) -> str:
    """The per-version families (``version_parts`` of each loaded version) and the server's histograms."""
    stages, batch_sizes = _stage_and_batch_sizes({"model": "", "version": ""}, server)
    out: list[str] = []
    for index, (name, kind, doc) in enumerate(FAMILIES):
        out.append(f"# HELP {name} {doc}\n# TYPE {name} {kind}\n")
        if index == _STAGES:
            out.append(stages)
        elif index == _BATCH_ROWS:
            out.append(batch_sizes)
        elif index == _LOADED:
            out.append(f"modelport_loaded_versions {_num(len(versions))}\n")
        out.extend(parts[index] for parts in versions)
    return "".join(out)


def _stage_and_batch_sizes(base: Mapping[str, str], h: StageHistograms) -> tuple[str, str]:
    stages = "".join(
        _histogram(
            "modelport_stage_duration_seconds",
            {**base, "stage": STAGE_LABELS[name]},
            _buckets(counts, STAGE_BUCKETS_S),
            h.ns[name] / 1e9,
        )
        for name, counts in h.buckets.items()
    )
    return stages, _histogram("modelport_batch_size_rows", base, _size_buckets(h.batch_sizes), h.rows)


def _histogram(
    name: str, labels: Mapping[str, str], buckets: Sequence[tuple[str, float]], total: float
) -> str:
    key = _labels(labels)  # "le" sorts before each of the histograms' label names
    lines = [f'{name}_bucket{{le="{le}",{key}}} {_num(count)}\n' for le, count in buckets]
    lines.append(f"{name}_count{{{key}}} {_num(buckets[-1][1])}\n{name}_sum{{{key}}} {_num(total)}\n")
    return "".join(lines)


def _labels(labels: Mapping[str, str]) -> str:
    """Label pairs sorted by name, as prometheus-client writes them."""
    return ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))


def _num(value: float) -> str:
    """A sample value as prometheus-client writes finite ones (``5.0``, ``0.0005``, ``1e+20``)."""
    return repr(float(value))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _size_buckets(batches: Mapping[int, int]) -> list[tuple[str, float]]:
    """Cumulative counts of model calls per ``BATCH_SIZE_BUCKETS`` bound, from calls counted per size."""
    counts = [0] * (len(BATCH_SIZE_BUCKETS) + 1)
    for size, count in batches.items():
        counts[bisect.bisect_left(BATCH_SIZE_BUCKETS, size)] += count
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
            for label in _uncompared(report):  # an alert of the report's, with no statistics
                status.add_metric([name, label], status_value("alert"))
        yield from (score, status)


def _uncompared(report: Mapping[str, Any]) -> list[str]:
    """Input features a report could not compare: text against numbers, or on one side only."""
    unmatched = report.get("unmatched_features", {})
    labels = [m["feature"] for m in report.get("type_mismatches", [])]
    labels += [*unmatched.get("live_only", []), *unmatched.get("reference_only", [])]
    return list(dict.fromkeys(labels))
