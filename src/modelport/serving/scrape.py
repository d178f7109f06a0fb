"""``/metrics``: the Prometheus exposition, rendered so that a scrape never holds up requests.

The request path mutates the counters on the event loop (dicts may grow), so a scrape copies them
there, but only for versions that served something since the last scrape (microseconds each); the
text is rendered from the copies in a worker thread, and an idle version's text from the last
scrape is reused. Scrapes render one at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from modelport.monitoring.prometheus import Parts, VersionView, render_versions, version_parts
from modelport.monitoring.prometheus_loading import LoadStateCollector
from modelport.monitoring.stats import InferenceStats, StageHistograms
from modelport.serving.http import Handler, HttpRequest, HttpResponse
from modelport.serving.loaded import LoadedVersion
from modelport.serving.reconciler import Reconciler

__all__ = ["metrics_handler"]

Fingerprint = tuple[int, int, int, int, int | None, bool]
"""What a version's series depend on: requests succeeded and failed, model calls, queue depth,
memory, detailed: while it is unchanged, so is the version's text."""
Entry = tuple[str, InferenceStats, Fingerprint, Parts | VersionView]
"""A loaded version at a scrape: its target, statistics, fingerprint, and its text or a copy to render."""


def metrics_handler(
    reconciler: Reconciler, histograms: StageHistograms, collectors: Sequence[Collector] = ()
) -> Handler:
    """``collectors`` are small (endpoints, payload log, drift): they are collected on the event loop."""
    process = ProcessCollector(registry=None)  # reads /proc: fine in the rendering thread
    rendering = asyncio.Lock()
    cache: dict[str, tuple[InferenceStats, Fingerprint, Parts]] = {}
    """Each version's text at the last scrape; read and replaced only while holding ``rendering``."""

    def entries() -> list[Entry]:
        out: list[Entry] = []
        for version in reconciler.table.loaded_versions():
            stats, depth = version.stats, _depth(version)
            mark = (stats.success.count, stats.fail.count, stats.execution_count, depth)
            fingerprint = (*mark, version.memory_bytes, stats.detailed)
            cached = cache.get(version.target)
            if cached is not None and cached[0] is stats and cached[1] == fingerprint:
                out.append((version.target, stats, fingerprint, cached[2]))
            else:
                view = VersionView.of(version.model, str(version.version), stats, depth, version.memory_bytes)
                out.append((version.target, stats, fingerprint, view))
        return out

    def render(taken: list[Entry], server: StageHistograms, others: list[Collector]) -> bytes:
        fresh = {}
        for target, stats, fingerprint, item in taken:
            fresh[target] = (stats, fingerprint, item if isinstance(item, tuple) else version_parts(item))
        cache.clear()
        cache.update(fresh)
        registry = CollectorRegistry(auto_describe=False)
        for collector in others:
            registry.register(collector)
        text = render_versions([parts for _, _, parts in fresh.values()], server)
        return text.encode() + generate_latest(registry)

    async def metrics(request: HttpRequest) -> HttpResponse:
        async with rendering:
            load_state = LoadStateCollector(
                reconciler.failure_messages,
                lambda: reconciler.table.held_aliases(),
            )
            others = [process, *(_Taken(list(c.collect())) for c in (load_state, *collectors))]
            body = await asyncio.to_thread(render, entries(), histograms.copy(), others)
        return HttpResponse(body, 200, [(b"content-type", CONTENT_TYPE_LATEST.encode())])

    return metrics


def _depth(version: LoadedVersion) -> int:
    return version.predictor.queue_depth if version.predictor else 0


class _Taken(Collector):
    """Metrics collected on the event loop, rendered in the worker thread."""

    def __init__(self, metrics: Sequence[Metric]) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        yield from self._metrics
