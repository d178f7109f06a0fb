"""Prometheus exposition of endpoints and shadows: what each variant served and how each shadow
compared with its primary, as since-start counters rendered at scrape time."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from modelport.monitoring.comparison import ShadowComparison
from modelport.monitoring.outcomes import EndpointOutcomes

__all__ = ["DeploymentCollector"]

ShadowEntry = tuple[str, str, ShadowComparison]
"""``(endpoint, shadow label, comparison)``."""


class DeploymentCollector(Collector):
    def __init__(
        self,
        endpoints: Callable[[], Sequence[EndpointOutcomes]],
        shadows: Callable[[], Sequence[ShadowEntry]],
        shadows_dropped: Callable[[], int],
    ) -> None:
        self._endpoints = endpoints
        self._shadows = shadows
        self._shadows_dropped = shadows_dropped

    def collect(self) -> Iterator[Metric]:
        yield from self._endpoint_metrics()
        yield from self._shadow_metrics()

    def _endpoint_metrics(self) -> Iterator[Metric]:
        labels = ["endpoint", "variant"]
        requests = CounterMetricFamily(
            "modelport_endpoint_requests", "Requests an endpoint routed to each variant.", labels=labels
        )
        failures = CounterMetricFamily(
            "modelport_endpoint_request_failures",
            "Requests of a variant that failed (bad input excluded).",
            labels=labels,
        )
        judged = CounterMetricFamily(
            "modelport_endpoint_feedback_rows", "Rows judged against ground truth (feedback).", labels=labels
        )
        correct = CounterMetricFamily(
            "modelport_endpoint_correct_rows", "Judged rows whose predicted label was right.", labels=labels
        )
        for outcomes in self._endpoints():
            for variant, counts in sorted(outcomes.counts().items()):
                key = [outcomes.endpoint, variant]
                requests.add_metric(key, counts.requests)
                failures.add_metric(key, counts.failures)
                judged.add_metric(key, counts.judged_rows)
                correct.add_metric(key, counts.correct_rows)
        yield from (requests, failures, judged, correct)

    def _shadow_metrics(self) -> Iterator[Metric]:
        labels = ["endpoint", "shadow"]
        requests = CounterMetricFamily(
            "modelport_shadow_requests", "Mirrored requests compared with the primary.", labels=labels
        )
        errors = CounterMetricFamily(
            "modelport_shadow_errors", "Compared requests that failed, by side.", labels=[*labels, "side"]
        )
        out = [*labels, "output"]
        rows = CounterMetricFamily("modelport_shadow_compared_rows", "Output values compared.", labels=out)
        agreeing = CounterMetricFamily(
            "modelport_shadow_agreeing_rows", "Label outputs where the shadow agreed.", labels=out
        )
        difference = CounterMetricFamily(
            "modelport_shadow_abs_difference",
            "Sum of |shadow - primary| over compared numeric output values.",
            labels=out,
        )
        mismatches = CounterMetricFamily(
            "modelport_shadow_mismatches", "Outputs that could not be compared (shape, dtype).", labels=out
        )
        dropped = CounterMetricFamily(
            "modelport_shadow_dropped", "Mirrored requests dropped because shadow work was at its bounds."
        )
        for endpoint, shadow, comparison in self._shadows():
            counters = comparison.counters()
            key = [endpoint, shadow]
            requests.add_metric(key, counters.requests)
            errors.add_metric([*key, "primary"], counters.primary_errors)
            errors.add_metric([*key, "shadow"], counters.shadow_errors)
            for output, counted in counters.outputs.items():
                labelled = [*key, output]
                mismatches.add_metric(labelled, counted.mismatches)
                if counted.kind is not None:
                    rows.add_metric(labelled, counted.compared)
                if counted.kind == "label":
                    agreeing.add_metric(labelled, counted.agreeing_rows)
                elif counted.kind == "float":
                    difference.add_metric(labelled, counted.sum_abs_diff)
        dropped.add_metric([], self._shadows_dropped())
        yield from (requests, errors, rows, agreeing, difference, mismatches, dropped)
