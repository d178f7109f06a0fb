"""Merging what several processes observed gives what one process would have observed of all the
traffic: sketches, moments, A/B tallies and shadow totals (``merge(a, b)`` equals the concatenation)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from modelport.monitoring import ShadowComparison
from modelport.monitoring.outcomes import EndpointOutcomes
from modelport.monitoring.sketches import LatencySketch, Moments


def through_json(state: Any) -> Any:
    """What another process reads back from the registry."""
    return json.loads(json.dumps(state, allow_nan=False))


def test_latency_sketch_merge_is_the_sketch_of_both_streams_and_within_one_percent() -> None:
    rng = np.random.default_rng(1)
    a_values, b_values = rng.lognormal(-4, 1, 3000), rng.lognormal(-3, 0.5, 2000)
    a, b, both = LatencySketch(), LatencySketch(), LatencySketch()
    for value in a_values:
        a.add(float(value))
        both.add(float(value))
    for value in [*b_values, 0.0]:
        b.add(float(value))
        both.add(float(value))
    merged = a.merge(LatencySketch.from_json(through_json(b.to_json())))
    assert merged == both
    exact = np.percentile(np.concatenate([a_values, b_values, [0.0]]), [50, 99], method="lower")
    for q, truth in zip((0.5, 0.99), exact, strict=True):
        assert merged.quantile(q) == pytest.approx(truth, rel=0.011)
    assert LatencySketch().quantile(0.5) is None


def test_moments_merge_equals_the_moments_of_the_concatenation() -> None:
    values = np.random.default_rng(2).normal(1e6, 3.0, 500)
    a, b, both = Moments(), Moments(), Moments()
    for i, value in enumerate(values):
        (a if i < 123 else b).add(float(value))
        both.add(float(value))
    merged = a.merge(Moments.from_json(through_json(b.to_json())))
    assert merged.n == both.n == 500
    assert merged.mean == pytest.approx(both.mean, rel=1e-12)
    assert merged.m2 == pytest.approx(both.m2, rel=1e-9)
    assert Moments().merge(Moments()) == Moments()


def feed_outcomes(outcomes: EndpointOutcomes, requests: list[tuple[str, str, bool, float, Any]]) -> None:
    for request_id, variant, failed, latency, prediction in requests:
        outcomes.record(
            request_id, variant, failed, latency, None if prediction is None else np.array(prediction)
        )


def test_an_ab_report_merged_from_two_processes_equals_one_process_seeing_all_traffic() -> None:
    rng = np.random.default_rng(3)
    traffic = [
        (f"r{i}", f"m:{1 + i % 2}", bool(rng.random() < 0.1), float(rng.exponential(0.01)), [i % 3, 1])
        for i in range(400)
    ]
    regression = [(f"x{i}", "r:1", False, 0.01, [float(i)]) for i in range(30)]
    one, first, second = EndpointOutcomes("e"), EndpointOutcomes("e"), EndpointOutcomes("e")
    feed_outcomes(one, traffic + regression)
    feed_outcomes(first, traffic[:150] + regression[:10])
    feed_outcomes(second, traffic[150:] + regression[10:])
    first_ids = {request[0] for request in traffic[:150] + regression[:10]}
    labels = [(f"r{i}", [1, 1]) for i in range(0, 400, 7)]
    values = [(f"x{i}", [i + 0.5 * (i % 4)]) for i in range(30)]
    one.feedback(labels + values)
    first.feedback([item for item in labels + values if item[0] in first_ids])
    second.feedback([item for item in labels + values if item[0] not in first_ids])
    merged = first.report([through_json(second.state())])
    _close(merged, one.report())
    assert merged["variants"]["m:1"]["requests"] == 200
    assert merged["variants"]["m:1"]["feedback_requests"] == len(labels) // 2
    assert merged["variants"]["r:1"]["mean_abs_error_ci95"] is not None
    # The process's own report is unchanged by another's state: nothing is merged twice.
    assert first.report()["variants"]["m:1"]["requests"] == 75


def _close(a: Any, b: Any) -> bool:
    """Equal, floats up to rounding (sums added in another order)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        return all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        assert len(a) == len(b)
        return all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-12)
        return True
    assert a == b
    return True


def shadow_traffic(comparison: ShadowComparison, seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    for i in range(n):
        if i % 17 == 0:
            comparison.observe_error("shadow", 0.01, 0.02)
            continue
        probabilities = rng.random((2, 3)) + (seed == 5) * 100.0
        comparison.observe(
            {"label": np.array([i % 3, 1]), "probabilities": probabilities},
            {"label": np.array([i % 2, 1]), "probabilities": probabilities + rng.normal(0, 0.1, (2, 3))},
            float(rng.exponential(0.01)),
            float(rng.exponential(0.02)),
        )
    comparison.observe({"label": np.array([1])}, {"other": np.array([1])})  # a mismatch


def test_shadow_totals_merged_from_three_processes_equal_one_process_seeing_all_traffic() -> None:
    parts = [ShadowComparison() for _ in range(3)]
    one = ShadowComparison()
    for seed, (part, n) in enumerate(zip(parts, (50, 80, 0), strict=True), start=4):
        shadow_traffic(part, seed, n)
        shadow_traffic(one, seed, n)
    merged = parts[0].report([through_json(p.state()) for p in parts[1:]])["total"]
    expected = one.report()["total"]
    assert merged["count"] == expected["count"] == 50 + 80 + 3
    _close(merged, expected)
    assert merged["outputs"]["probabilities"]["correlation"] is not None
