"""Per-feature drift and its status: the statistics of ``statistics.py`` turned into a verdict.

A feature's status comes from an effect size gated by a test: a numeric feature is ``warning``
or ``alert`` when its PSI reaches ``psi_warning`` / ``psi_alert`` *and* the KS p-value is below
``pvalue``; a categorical one likewise with the Jensen-Shannon distance and the chi-square
p-value. The effect size says whether a change matters, the test whether it is more than the noise
of a small window. A model's status is the worst of its features' and outputs'.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from modelport.core.settings import DriftSettings
from modelport.monitoring.drift import statistics as st
from modelport.monitoring.drift.features import Features

__all__ = ["INSUFFICIENT", "STATUSES", "compare_features", "feature_drift", "status_value", "worst"]

STATUSES = ("ok", "warning", "alert")
"""In increasing order of severity; the index is the value of ``modelport_drift_status``."""
INSUFFICIENT = "insufficient_data"
"""A report's status when nothing could be compared (no independent reference, or no live rows)."""

HISTOGRAM_BINS = 20

Json = dict[str, Any]


def worst(statuses: Iterable[str]) -> str:
    return max(statuses, key=STATUSES.index, default="ok")


def status_value(status: str) -> int:
    """``modelport_drift_status``'s value: -1 for insufficient data, else the index in ``STATUSES``."""
    return -1 if status == INSUFFICIENT else STATUSES.index(status)


def compare_features(reference: Features, live: Features, settings: DriftSettings) -> list[Json]:
    """The drift of every feature present on both sides, in the reference's order."""
    found = (feature_drift(name, reference[name], live[name], settings) for name in reference if name in live)
    return [item for item in found if item is not None]


def feature_drift(
    name: str, reference: np.ndarray[Any, Any], live: np.ndarray[Any, Any], settings: DriftSettings
) -> Json | None:
    """One feature's kind, statistics, status and histogram; None when a side has no usable value."""
    if st.is_categorical(reference, settings.max_categories) or live.dtype.kind in "OSUb":
        return _categorical(name, reference, live, settings)
    try:
        ref, cur = reference.astype(np.float64), live.astype(np.float64)
    except (TypeError, ValueError):
        return None
    ref, cur = ref[np.isfinite(ref)], cur[np.isfinite(cur)]  # nulls are NaN: left out
    if ref.size == 0 or cur.size == 0:
        return None
    return _numeric(name, ref, cur, settings)


def _numeric(
    name: str, ref: np.ndarray[Any, Any], cur: np.ndarray[Any, Any], settings: DriftSettings
) -> Json:
    psi = st.psi(ref, cur, settings.bins)
    ks, ks_pvalue = st.ks(ref, cur)
    level = _level(psi, settings.psi_warning, settings.psi_alert)
    edges, ref_shares, cur_shares = st.numeric_histogram(ref, cur, HISTOGRAM_BINS)
    return {
        "feature": name,
        "kind": "numeric",
        "statistics": {"psi": psi, "ks": ks, "ks_pvalue": ks_pvalue},
        "status": level if ks_pvalue < settings.pvalue else "ok",
        "histogram": {"edges": edges.tolist(), "reference": ref_shares.tolist(), "live": cur_shares.tolist()},
    }


def _categorical(
    name: str, ref: np.ndarray[Any, Any], cur: np.ndarray[Any, Any], settings: DriftSettings
) -> Json | None:
    if ref.size == 0 or cur.size == 0:
        return None
    categories, ref_counts, cur_counts = st.category_counts(ref, cur, settings.max_categories)
    chi2, chi2_pvalue = st.chi_square(ref_counts, cur_counts)
    js = st.js_distance(ref_counts, cur_counts)
    level = _level(js, settings.js_warning, settings.js_alert)
    return {
        "feature": name,
        "kind": "categorical",
        "statistics": {"chi2": chi2, "chi2_pvalue": chi2_pvalue, "js": js},
        "status": level if chi2_pvalue < settings.pvalue else "ok",
        "histogram": {
            "categories": categories,
            "reference": (ref_counts / ref.size).tolist(),
            "live": (cur_counts / cur.size).tolist(),
        },
    }


def _level(value: float, warning: float, alert: float) -> str:
    if value >= alert:
        return "alert"
    return "warning" if value >= warning else "ok"
