"""Per-feature status: quiet on samples of one distribution, loud on a shifted feature."""

from __future__ import annotations

import numpy as np
import pytest

from modelport.core.settings import DriftSettings
from modelport.monitoring.drift.report import INSUFFICIENT, compare_features, feature_drift, judge, worst

SETTINGS = DriftSettings()


def _sample(rng: np.random.Generator, rows: int, shift: float = 0.0) -> dict[str, np.ndarray]:  # type: ignore[type-arg]
    features = {f"x[{i}]": rng.normal(loc=i + (shift if i == 3 else 0.0), size=rows) for i in range(8)}
    features["colour"] = rng.choice(np.array(["red", "green", "blue"], dtype=object), rows, p=[0.5, 0.3, 0.2])
    features["rooms"] = rng.integers(1, 6, rows)
    return features


@pytest.mark.parametrize("seed", range(5))
def test_same_distribution_raises_nothing(seed: int) -> None:
    rng = np.random.default_rng(seed)
    report = compare_features(_sample(rng, 1000), _sample(rng, 1000), SETTINGS)
    assert [f["feature"] for f in report] == [*(f"x[{i}]" for i in range(8)), "colour", "rooms"]
    assert {f["status"] for f in report} == {"ok"}


def test_a_shifted_feature_alerts_and_only_it() -> None:
    rng = np.random.default_rng(7)
    drifted = compare_features(_sample(rng, 1000), _sample(rng, 1000, shift=1.0), SETTINGS)
    report = {f["feature"]: f for f in drifted}
    assert report["x[3]"]["status"] == "alert"
    assert report["x[3]"]["statistics"]["psi"] > SETTINGS.psi_alert
    assert report["x[3]"]["statistics"]["ks_pvalue"] < 1e-6
    assert all(f["status"] == "ok" for name, f in report.items() if name != "x[3]")
    assert worst(f["status"] for f in report.values()) == "alert"


def test_categorical_shift() -> None:
    rng = np.random.default_rng(3)
    colours = np.array(["red", "green", "blue"], dtype=object)
    reference = rng.choice(colours, 2000, p=[0.5, 0.3, 0.2])
    live = rng.choice(colours, 2000, p=[0.2, 0.3, 0.5])
    result = feature_drift("colour", reference, live, SETTINGS)
    assert result is not None
    assert result["kind"] == "categorical"
    assert result["status"] == "alert"
    assert result["statistics"]["chi2_pvalue"] < 1e-6
    assert result["statistics"]["js"] > SETTINGS.js_alert
    shares = dict(zip(result["histogram"]["categories"], result["histogram"]["live"], strict=True))
    assert shares["blue"] == pytest.approx(0.5, abs=0.05)


def test_a_big_effect_in_a_small_window_is_not_significant() -> None:
    # Five live rows: PSI is large by chance alone, the tests say it is not significant.
    rng = np.random.default_rng(0)
    result = feature_drift("x", rng.normal(size=1000), rng.normal(size=5), DriftSettings(min_rows=5))
    assert result is not None
    assert result["statistics"]["psi"] > SETTINGS.psi_alert
    assert result["statistics"]["ks_pvalue"] > SETTINGS.pvalue
    assert result["status"] == "ok"


def test_below_min_rows_a_feature_is_not_judged() -> None:
    rng = np.random.default_rng(0)
    shifted = rng.normal(loc=3.0, size=SETTINGS.min_rows - 1)
    result = feature_drift("x", rng.normal(size=1000), shifted, SETTINGS)
    assert result is not None
    assert result["status"] == INSUFFICIENT
    assert judge([result], SETTINGS) == INSUFFICIENT
    few = rng.normal(size=SETTINGS.min_rows - 1)
    small_reference = feature_drift("x", few, rng.normal(size=1000), SETTINGS)
    assert small_reference is not None and small_reference["status"] == INSUFFICIENT


def test_only_features_without_rows_are_left_out() -> None:
    assert feature_drift("x", np.array([]), np.array([1.0]), SETTINGS) is None
    assert compare_features({"x": np.ones(3)}, {"y": np.ones(3)}, SETTINGS) == []


def test_runs_on_a_window_of_100k_rows_and_20_features() -> None:
    rng = np.random.default_rng(11)
    reference = {f"f{i}": rng.normal(size=100_000) for i in range(20)}
    live = {f"f{i}": rng.normal(size=100_000) for i in range(20)}
    report = compare_features(reference, live, SETTINGS)
    assert len(report) == 20
    assert all(len(f["histogram"]["live"]) == 20 for f in report)


def test_worst() -> None:
    assert worst([]) == "ok"
    assert worst(["ok", "alert", "warning"]) == "alert"
    assert worst([INSUFFICIENT, "warning"]) == "warning"
    assert worst([INSUFFICIENT, INSUFFICIENT]) == INSUFFICIENT
