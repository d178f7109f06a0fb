"""Shadow-vs-primary comparison: agreement, float differences, windows, mismatches, bounds."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from modelport.core import InvalidInput
from modelport.monitoring import ShadowComparison


def window(comparison: ShadowComparison) -> dict[str, Any]:
    report: dict[str, Any] = comparison.report()["window"]
    return report


def total(comparison: ShadowComparison) -> dict[str, Any]:
    report: dict[str, Any] = comparison.report()["total"]
    return report


def test_an_empty_comparison_reports_nothing_observed() -> None:
    report = ShadowComparison("iris", "iris:1", "iris:2").report()
    assert report["endpoint"] == "iris"
    assert report["window"]["count"] == report["total"]["count"] == 0
    assert report["window"]["latency_s"]["primary"] == {"p50": None, "p99": None}
    assert report["window"]["outputs"] == {}
    json.dumps(report, allow_nan=False)


def test_label_agreement_counts_rows() -> None:
    comparison = ShadowComparison()
    comparison.observe({"label": np.array([1, 2, 3, 4])}, {"label": np.array([1, 2, 3, 0])})  # 3 of 4
    comparison.observe({"label": np.array([[1, 1]])}, {"label": np.array([[1, 1]])})  # 1 of 1
    comparison.observe({"label": np.array(["a", "b"])}, {"label": np.array(["a", "c"])})  # 1 of 2
    output = window(comparison)["outputs"]["label"]
    assert output["kind"] == "label"
    assert output["rows"] == 7
    assert output["agreement_rate"] == pytest.approx(5 / 7)
    assert total(comparison)["outputs"]["label"]["agreement_rate"] == pytest.approx(5 / 7)


def test_a_row_agrees_only_when_all_its_elements_do() -> None:
    comparison = ShadowComparison()
    primary = np.array([[1, 0, 1], [0, 0, 1]], dtype=np.bool_)
    shadow = np.array([[1, 0, 1], [0, 1, 1]], dtype=np.bool_)
    comparison.observe({"tags": primary}, {"tags": shadow})
    assert window(comparison)["outputs"]["tags"]["agreement_rate"] == 0.5


def test_float_differences_correlation_and_distributions() -> None:
    rng = np.random.default_rng(0)
    primary = rng.normal(size=(50, 3)).astype(np.float32)
    shadow = primary.astype(np.float64) * 2.0 + 0.5
    comparison = ShadowComparison()
    comparison.observe({"y": primary}, {"y": shadow}, 0.010, 0.020)
    output = window(comparison)["outputs"]["y"]
    as64 = primary.astype(np.float64)
    diff = np.abs(as64 - shadow)
    assert output["kind"] == "float"
    assert output["rows"] == 50
    assert output["values"] == 150
    assert output["mean_abs_diff"] == pytest.approx(diff.mean())
    assert output["max_abs_diff"] == pytest.approx(diff.max())
    assert output["correlation"] == pytest.approx(1.0)
    assert output["primary_summary"] == pytest.approx(
        {"mean": as64.mean(), "std": as64.std(), "min": as64.min(), "max": as64.max()}
    )
    histogram = output["histogram"]
    assert len(histogram["edges"]) == 11
    assert histogram["edges"][0] == pytest.approx(min(as64.min(), shadow.min()))
    assert histogram["edges"][-1] == pytest.approx(max(as64.max(), shadow.max()))
    assert sum(histogram["primary"]) == sum(histogram["shadow"]) == 150


def test_correlation_is_negative_for_inverted_and_none_for_constant_outputs() -> None:
    values = np.linspace(0.0, 1.0, 20)
    inverted, constant = ShadowComparison(), ShadowComparison()
    inverted.observe({"y": values}, {"y": -values})
    constant.observe({"y": values}, {"y": np.full(20, 0.1)})
    assert window(inverted)["outputs"]["y"]["correlation"] == pytest.approx(-1.0)
    assert window(constant)["outputs"]["y"]["correlation"] is None
    assert total(constant)["outputs"]["y"]["correlation"] is None


def test_total_correlation_is_stable_for_large_offsets() -> None:
    rng = np.random.default_rng(1)
    comparison = ShadowComparison(window=5)
    primaries, shadows = [], []
    for _ in range(40):
        primary = 1e6 + rng.normal(size=16)
        shadow = primary + rng.normal(scale=0.5, size=16)
        comparison.observe({"y": primary}, {"y": shadow})
        primaries.append(primary)
        shadows.append(shadow)
    expected = np.corrcoef(np.concatenate(primaries), np.concatenate(shadows))[0, 1]
    assert total(comparison)["outputs"]["y"]["correlation"] == pytest.approx(expected, rel=1e-9)
    assert total(comparison)["outputs"]["y"]["rows"] == 640


def test_the_window_slides_and_the_totals_keep_everything() -> None:
    comparison = ShadowComparison(window=3)
    for i in range(5):
        agree = np.array([i]) if i < 3 else np.array([-1])  # the last two disagree
        comparison.observe({"label": np.array([i])}, {"label": agree}, primary_latency_s=float(i))
    report = comparison.report()
    assert report["window"]["count"] == 3
    assert report["window"]["outputs"]["label"]["rows"] == 3
    assert report["window"]["outputs"]["label"]["agreement_rate"] == pytest.approx(1 / 3)
    assert report["window"]["latency_s"]["primary"]["p50"] == 3.0
    assert report["total"]["count"] == 5
    assert report["total"]["outputs"]["label"]["agreement_rate"] == pytest.approx(3 / 5)
    assert report["total"]["latency_s"]["primary"] == {"mean": 2.0, "max": 4.0}


def test_latency_percentiles_per_side() -> None:
    comparison = ShadowComparison(window=200)
    for i in range(1, 101):
        comparison.observe({}, {}, primary_latency_s=i / 1000, shadow_latency_s=2 * i / 1000)
    latency = window(comparison)["latency_s"]
    assert latency["primary"]["p50"] == pytest.approx(np.percentile(np.arange(1, 101) / 1000, 50))
    assert latency["shadow"]["p99"] == pytest.approx(np.percentile(np.arange(1, 101) / 500, 99))


def test_errors_are_counted_per_side_without_outputs() -> None:
    comparison = ShadowComparison(window=2)
    comparison.observe_error("shadow", primary_latency_s=0.01)
    comparison.observe_error("primary")
    comparison.observe_error("both")
    report = comparison.report()
    assert report["total"] | {"latency_s": None, "outputs": None} == {
        "count": 3,
        "primary_errors": 2,
        "shadow_errors": 2,
        "latency_s": None,
        "outputs": None,
    }
    assert (report["window"]["primary_errors"], report["window"]["shadow_errors"]) == (2, 1)
    with pytest.raises(InvalidInput):
        comparison.observe_error("canary")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("primary", "shadow", "name", "reason"),
    [
        ({"y": np.zeros(3)}, {}, "y", "missing_in_shadow"),
        ({}, {"z": np.zeros(3)}, "z", "missing_in_primary"),
        ({"y": np.zeros((3, 2))}, {"y": np.zeros((3, 3))}, "y", "shape"),
        ({"y": np.zeros(3)}, {"y": np.zeros(3, dtype=np.int64)}, "y", "dtype"),
        ({"y": np.array([1, 2])}, {"y": np.array(["1", "2"])}, "y", "dtype"),
        ({"y": np.zeros(2, dtype=np.complex64)}, {"y": np.zeros(2, dtype=np.complex64)}, "y", "dtype"),
    ],
)
def test_mismatched_outputs_are_counted_never_raised(
    primary: dict[str, Any], shadow: dict[str, Any], name: str, reason: str
) -> None:
    comparison = ShadowComparison()
    comparison.observe(primary, shadow)
    report = comparison.report()
    assert report["window"]["outputs"][name]["mismatches"] == 1
    assert report["total"]["outputs"][name]["mismatch_reasons"] == {reason: 1}
    json.dumps(report, allow_nan=False)


def test_an_output_that_changes_kind_is_a_mismatch() -> None:
    comparison = ShadowComparison()
    comparison.observe({"y": np.array([1, 2])}, {"y": np.array([1, 2])})
    comparison.observe({"y": np.array([0.5])}, {"y": np.array([0.5])})
    output = total(comparison)["outputs"]["y"]
    assert (output["kind"], output["rows"], output["mismatch_reasons"]) == ("label", 2, {"dtype": 1})


def test_non_finite_values_are_counted_and_left_out() -> None:
    comparison = ShadowComparison()
    comparison.observe({"y": np.array([1.0, np.nan, 3.0, np.inf])}, {"y": np.array([1.5, 2.0, 3.5, 4.0])})
    output = window(comparison)["outputs"]["y"]
    assert (output["values"], output["non_finite"]) == (2, 2)
    assert output["mean_abs_diff"] == pytest.approx(0.5)
    assert total(comparison)["outputs"]["y"]["non_finite"] == 2
    only_nan = ShadowComparison()
    only_nan.observe({"y": np.array([np.nan])}, {"y": np.array([1.0])})
    assert window(only_nan)["outputs"]["y"]["histogram"] is None
    json.dumps(only_nan.report(), allow_nan=False)


def test_scalar_and_empty_outputs() -> None:
    comparison = ShadowComparison()
    comparison.observe(
        {"score": np.float64(0.5), "n": np.int64(3)}, {"score": np.float64(0.25), "n": np.int64(3)}
    )
    comparison.observe(
        {"score": np.zeros(0), "n": np.zeros((0, 2), np.int64)},
        {"score": np.zeros(0), "n": np.zeros((0, 2), np.int64)},
    )
    outputs = window(comparison)["outputs"]
    assert outputs["score"]["rows"] == 1
    assert outputs["score"]["max_abs_diff"] == 0.25
    assert outputs["n"]["agreement_rate"] == 1.0


def test_memory_is_bounded_by_max_values() -> None:
    comparison = ShadowComparison(window=10, max_values=64)
    rng = np.random.default_rng(2)
    for _ in range(5):
        batch = rng.normal(size=(100, 2))
        comparison.observe({"y": batch, "label": np.arange(100)}, {"y": batch, "label": np.arange(100)})
    outputs = window(comparison)["outputs"]
    assert outputs["y"]["values"] == 64  # the newest values of the window
    assert outputs["label"]["compared_rows"] == 64
    assert outputs["y"]["rows"] == 500  # rows seen in the window, compared or not
    assert total(comparison)["outputs"]["y"]["values"] == 1000


def test_the_report_is_json_ready() -> None:
    comparison = ShadowComparison("e", "m:1", "m:2")
    comparison.observe(
        {"p": np.array([[0.1, 0.9]], np.float32), "label": np.array([b"yes"], dtype=object)},
        {"p": np.array([[0.2, 0.8]], np.float32), "label": np.array([b"no"], dtype=object)},
        0.001,
        0.002,
    )
    text = json.dumps(comparison.report(), allow_nan=False)
    assert json.loads(text)["window"]["outputs"]["label"]["agreement_rate"] == 0.0


def test_rejects_a_non_positive_window() -> None:
    with pytest.raises(InvalidInput):
        ShadowComparison(window=0)
