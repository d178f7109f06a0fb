"""Per-version inference statistics, kept as plain counters on the request path.

The hot path only adds to integers; rendering (Prometheus, the OIP statistics extension) happens
when someone asks. Stage and batch-size histograms go to a ``StageHistograms`` shared by the whole
server, or to the version's own where its model opts in (``detailed_metrics``), so a loaded
version adds only a few Prometheus series by default.

Stage names follow the Open Inference Protocol's statistics extension: ``queue`` (waiting in the
batcher), ``compute_input`` (decoding), ``compute_infer`` (the model call, shared by a batch),
``compute_output`` (encoding).
"""

from __future__ import annotations

import bisect
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LATENCY_BUCKETS_S", "STAGE_BUCKETS_S", "InferenceStats", "StageHistograms", "StageTotals"]

LATENCY_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5)
"""Upper bounds of the end-to-end latency histogram (seconds); the last bucket is +Inf. Kept short:
every loaded version has this histogram."""
STAGES = ("queue", "compute_input", "compute_infer", "compute_output")
STAGE_BUCKETS_S = (
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25, 0.5, 1.0, 2.5,
)  # fmt: skip
"""Upper bounds of the per-stage histograms (seconds): stages run from microseconds (decoding one row)
to seconds (a large batch), so the buckets start lower than the end-to-end ones."""
_LATENCY_BOUNDS_NS = tuple(round(bound * 1e9) for bound in LATENCY_BUCKETS_S)
_STAGE_BOUNDS_NS = tuple(round(bound * 1e9) for bound in STAGE_BUCKETS_S)
"""The same bounds in nanoseconds, as the request path measures: a bucket is found without a division."""


@dataclass
class StageTotals:
    count: int = 0
    ns: int = 0

    def add(self, ns: int, count: int = 1) -> None:
        self.count += count
        self.ns += ns

    def to_dict(self) -> dict[str, int]:
        return {"count": self.count, "ns": self.ns}


@dataclass
class StageHistograms:
    """Per-request stage durations and model calls per batch size, for one version or a whole server."""

    buckets: dict[str, list[int]] = field(
        default_factory=lambda: {s: [0] * (len(STAGE_BUCKETS_S) + 1) for s in STAGES}
    )
    """Per-request stage durations (statistics-extension stage names), per bucket of ``STAGE_BUCKETS_S``."""
    ns: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STAGES, 0))
    batch_sizes: dict[int, int] = field(default_factory=dict)
    """Model calls by batch size (rows)."""
    rows: int = 0

    def observe(self, stage: str, ns: int, requests: int = 1) -> None:
        self.buckets[stage][bisect.bisect_left(_STAGE_BOUNDS_NS, ns)] += requests
        self.ns[stage] += ns * requests

    def copy(self) -> StageHistograms:
        return StageHistograms(
            {s: list(b) for s, b in self.buckets.items()}, dict(self.ns), dict(self.batch_sizes), self.rows
        )


@dataclass
class InferenceStats:
    success: StageTotals = field(default_factory=StageTotals)
    fail: StageTotals = field(default_factory=StageTotals)
    stages: dict[str, StageTotals] = field(default_factory=lambda: {s: StageTotals() for s in STAGES})
    failures: Counter[str] = field(default_factory=Counter)
    """Failed requests by error kind."""
    by_protocol: Counter[str] = field(default_factory=Counter)
    latency_buckets: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS_S) + 1))
    own_histograms: StageHistograms = field(default_factory=StageHistograms)
    """This version's stage and batch-size histograms, filled while it is ``detailed``."""
    histograms: StageHistograms = field(init=False)
    """Where stage and batch-size observations go: ``own_histograms`` or the server's (``share``)."""
    _queue: StageTotals = field(init=False, repr=False, compare=False)
    _infer: StageTotals = field(init=False, repr=False, compare=False)
    _input: StageTotals = field(init=False, repr=False, compare=False)
    _output: StageTotals = field(init=False, repr=False, compare=False)
    batches: dict[int, StageTotals] = field(default_factory=dict)
    """Model-call time by batch size (rows)."""
    inference_count: int = 0
    """Rows predicted."""
    execution_count: int = 0
    """Model calls (batches)."""
    last_inference_ms: int = 0

    def __post_init__(self) -> None:
        self.histograms = self.own_histograms
        stages = self.stages  # the totals each request adds to, held directly: no lookup per request
        self._queue, self._infer = stages["queue"], stages["compute_infer"]
        self._input, self._output = stages["compute_input"], stages["compute_output"]

    @property
    def detailed(self) -> bool:
        return self.histograms is self.own_histograms

    def share(self, server: StageHistograms | None) -> None:
        """Observe stages and batch sizes into ``server``'s histograms, or this version's own (``None``)."""
        self.histograms = self.own_histograms if server is None else server

    def record_request(self, protocol: str, total_ns: int, decode_ns: int, encode_ns: int) -> None:
        self.success.add(total_ns)
        self.by_protocol[protocol] += 1
        self._input.add(decode_ns)
        self._output.add(encode_ns)
        self.latency_buckets[bisect.bisect_left(_LATENCY_BOUNDS_NS, total_ns)] += 1
        self.histograms.observe("compute_input", decode_ns)
        self.histograms.observe("compute_output", encode_ns)
        self.last_inference_ms = int(time.time() * 1000)

    def record_failure(self, protocol: str, kind: str, total_ns: int) -> None:
        self.fail.add(total_ns)
        self.by_protocol[protocol] += 1
        self.failures[kind] += 1

    def record_batch(self, rows: int, waits_ns: Sequence[int], infer_ns: int) -> None:
        """One model call of ``rows`` rows serving requests that waited ``waits_ns`` in the queue."""
        requests = len(waits_ns)
        self.execution_count += 1
        self.inference_count += rows
        by_size = self.batches.get(rows)
        if by_size is None:
            by_size = self.batches[rows] = StageTotals()
        by_size.add(infer_ns)
        self._queue.add(sum(waits_ns), requests)
        self._infer.add(infer_ns * requests, requests)  # each request waited for the call
        histograms = self.histograms
        for wait_ns in waits_ns:
            histograms.observe("queue", wait_ns)
        histograms.observe("compute_infer", infer_ns, requests)
        histograms.batch_sizes[rows] = histograms.batch_sizes.get(rows, 0) + 1
        histograms.rows += rows

    def to_oip(self, name: str, version: str) -> dict[str, Any]:
        """This version's entry of the OIP statistics extension (``model_stats``).

        Safe in a worker thread while the event loop counts: ``stages`` never changes size, and
        ``batches``, which may grow, is read in one ``sorted`` call that runs without releasing the GIL."""
        return {
            "name": name,
            "version": version,
            "last_inference": self.last_inference_ms,
            "inference_count": self.inference_count,
            "execution_count": self.execution_count,
            "inference_stats": {
                "success": self.success.to_dict(),
                "fail": self.fail.to_dict(),
                **{stage: totals.to_dict() for stage, totals in self.stages.items()},
            },
            "batch_stats": [
                {"batch_size": size, "compute_infer": totals.to_dict()}
                for size, totals in sorted(self.batches.items())
            ],
        }
