"""Prometheus gauges for what a server should serve but cannot: versions that failed to load, and
aliases still answered by an earlier version because of it (series exist only while that lasts)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["LoadStateCollector"]


class LoadStateCollector(Collector):
    def __init__(
        self,
        failures: Callable[[], Mapping[str, str]],
        held_aliases: Callable[[], Sequence[Mapping[str, Any]]],
    ) -> None:
        """``failures``: ``model:version`` → why; ``held_aliases``: as ``RoutingTable.held_aliases``."""
        self._failures = failures
        self._held_aliases = held_aliases

    def collect(self) -> Iterator[Metric]:
        failed = GaugeMetricFamily(
            "modelport_version_load_failed",
            "1 for each version that should be served here but failed to load.",
            labels=["model", "version"],
        )
        for target in self._failures():
            model, _, version = target.rpartition(":")
            failed.add_metric([model, version], 1)
        held = GaugeMetricFamily(
            "modelport_alias_held_version",
            "The version still answering for an alias whose registered version is not loaded.",
            labels=["model", "alias", "registered_version"],
        )
        for alias in self._held_aliases():
            held.add_metric([alias["model"], alias["alias"], str(alias["version"])], alias["serving"])
        yield from (failed, held)
