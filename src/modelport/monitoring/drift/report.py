"""Per-feature drift and its status: the statistics of ``statistics.py`` turned into verdicts.

Every feature gets an effect size gated by tests. A numeric feature's level comes from its PSI
(``psi_warning`` / ``psi_alert``), gated by the KS test and the chi-square test on the PSI bins
(the latter sees changes of spread and point masses that KS misses); a categorical one's from the
Jensen-Shannon distance, gated by the chi-square test on the categories and a test of categories
the reference never holds. Each feature's share of
missing values (null, NaN, infinite) has its own verdict: the JS distance between the two
missing/present shares, gated by a 2 x 2 test. A feature with no usable live value at all is an
``alert``; one with fewer than ``min_rows`` live or reference rows is ``insufficient_data``.

The tests of all of a model's features and outputs form one family: ``judge`` adjusts their
p-values with Holm's method, so an unchanged model is ``ok`` in at least 1 - ``pvalue`` of windows
however many features it has (each feature alone at ``pvalue`` made 20 unchanged features not
``ok`` in about 19 % of 100-row windows). Holm rather than Benjamini-Hochberg because the model
status is what users alert on, and Holm bounds the chance of any false alarm in it, under any
dependence between features; Benjamini-Hochberg bounds only the expected share of false ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from modelport.core.settings import DriftSettings
from modelport.monitoring.drift import statistics as st
from modelport.monitoring.drift.features import Features

__all__ = [
    "INSUFFICIENT",
    "STATUSES",
    "compare_features",
    "feature_drift",
    "judge",
    "status_value",
    "worst",
]

STATUSES = ("ok", "warning", "alert")
"""In increasing order of severity; the index is the value of ``modelport_drift_status``."""
INSUFFICIENT = "insufficient_data"
"""The status of a feature with too few rows, and of a report where nothing could be compared."""

HISTOGRAM_BINS = 20
NULL_TEXT = "(null)"
"""How ``features.column_array`` writes a null text value: missing, like NaN."""

Json = dict[str, Any]
Array = np.ndarray[Any, Any]

_TESTS = {"numeric": ("ks_pvalue", "psi_pvalue"), "categorical": ("chi2_pvalue", "new_pvalue")}
"""The distribution tests of each kind, which gate its effect size (``_EFFECT``)."""
_EFFECT = {"numeric": "psi", "categorical": "js"}


def worst(statuses: Iterable[str]) -> str:
    """The most severe of ``statuses``, leaving out ``insufficient_data`` (no verdict) unless all
    are; ``ok`` when there is none."""
    given = list(statuses)
    judged = [s for s in given if s != INSUFFICIENT]
    if given and not judged:
        return INSUFFICIENT
    return max(judged, key=STATUSES.index, default="ok")


def status_value(status: str) -> int:
    """``modelport_drift_status``'s value: -1 for insufficient data, else the index in ``STATUSES``."""
    return -1 if status == INSUFFICIENT else STATUSES.index(status)


def compare_features(reference: Features, live: Features, settings: DriftSettings) -> list[Json]:
    """The drift of every feature present on both sides, in the reference's order, judged as one
    family (``judge``)."""
    found = (feature_drift(name, reference[name], live[name], settings) for name in reference if name in live)
    results = [item for item in found if item is not None]
    judge(results, settings)
    return results


def judge(results: list[Json], settings: DriftSettings) -> str:
    """Set the status of every feature in ``results`` (one model's inputs and outputs together),
    with Holm's correction over all their tests, and return the model's status (``worst``, and
    ``insufficient_data`` when there is no feature). Judging again gives the same statuses."""
    family = [r for r in results if r["status"] != INSUFFICIENT]
    tests = [(r, key) for r in family for key in (*_TESTS[r["kind"]], "missing_pvalue")]
    adjusted = st.holm(np.array([r["statistics"][key] for r, key in tests], dtype=np.float64))
    significant = {(id(r), key) for (r, key), p in zip(tests, adjusted, strict=True) if p < settings.pvalue}
    for r in family:
        stats = r["statistics"]
        levels = ["alert" if r["missing"]["live"] == 1.0 > r["missing"]["reference"] else "ok"]
        if any((id(r), key) in significant for key in _TESTS[r["kind"]]):
            levels.append(_level(stats[_EFFECT[r["kind"]]], *_thresholds(r["kind"], settings)))
        if (id(r), "missing_pvalue") in significant:
            levels.append(_level(stats["missing_js"], settings.js_warning, settings.js_alert))
        r["status"] = worst(levels)
    return worst(r["status"] for r in results) if results else INSUFFICIENT


def feature_drift(name: str, reference: Array, live: Array, settings: DriftSettings) -> Json | None:
    """One feature's kind, statistics, missing shares, histogram and status (judged alone); None
    when a side has no rows, or numbers cannot be read from it."""
    if reference.size == 0 or live.size == 0:
        return None
    ref_present, cur_present = _present(reference), _present(live)
    ref, cur = reference[ref_present], live[cur_present]
    if st.is_categorical(ref, settings.max_categories) or cur.dtype.kind in "OSUb":
        result = _categorical(name, _integral(ref), _integral(cur), settings)
    else:
        try:
            result = _numeric(name, ref.astype(np.float64), cur.astype(np.float64), settings)
        except (TypeError, ValueError):
            return None
    # missing and present values, reference then live
    counts = np.array([[reference.size - ref.size, ref.size], [live.size - cur.size, cur.size]])
    _, missing_pvalue = st.chi_square(counts[0], counts[1])
    result["statistics"]["missing_js"] = st.js_distance(counts[0], counts[1])
    result["statistics"]["missing_pvalue"] = missing_pvalue
    shares = counts[:, 0] / counts.sum(axis=1)
    result["missing"] = {"reference": float(shares[0]), "live": float(shares[1])}
    too_few = min(reference.size, live.size) < settings.min_rows
    result["status"] = INSUFFICIENT if too_few else "ok"
    judge([result], settings)
    return result


def _present(values: Array) -> Array:
    """Which values are usable: not null, NaN or infinite (text: not ``NULL_TEXT``)."""
    kind = values.dtype.kind
    if kind in "fc":
        return np.isfinite(values)
    if kind == "O":
        nulls = np.frompyfunc(lambda v: v is None, 1, 1)(values).astype(bool)
        return np.asarray((values == values) & ~nulls & (values != NULL_TEXT), dtype=bool)
    if kind == "U":
        return np.asarray(values != NULL_TEXT)
    return np.ones(values.shape, dtype=bool)


def _integral(values: Array) -> Array:
    """Whole floats (an integer column that held nulls) as integers, so ``1`` and ``1.0`` are one category."""
    if values.dtype.kind == "f" and np.array_equal(values, np.round(values)):
        return values.astype(np.int64)
    return values


def _numeric(name: str, ref: Array, cur: Array, settings: DriftSettings) -> Json:
    if ref.size and cur.size:
        edges = st.bin_edges(ref, settings.bins)
        ref_bins, cur_bins = st.bin_counts(ref, edges), st.bin_counts(cur, edges)
        psi = st.psi_of_counts(ref_bins, cur_bins)
        _, psi_pvalue = st.chi_square(ref_bins, cur_bins, binned=True)
        ks, ks_pvalue = st.ks(ref, cur)
    else:  # one side has no usable value: the missing-value verdict speaks
        psi, psi_pvalue, ks, ks_pvalue = 0.0, 1.0, 0.0, 1.0
    hist_edges, ref_shares, cur_shares = st.numeric_histogram(ref, cur, HISTOGRAM_BINS)
    return {
        "feature": name,
        "kind": "numeric",
        "statistics": {"psi": psi, "psi_pvalue": psi_pvalue, "ks": ks, "ks_pvalue": ks_pvalue},
        "histogram": {
            "edges": hist_edges.tolist(),
            "reference": ref_shares.tolist(),
            "live": cur_shares.tolist(),
        },
    }


def _categorical(name: str, ref: Array, cur: Array, settings: DriftSettings) -> Json:
    categories, ref_counts, cur_counts = st.category_counts(ref, cur, settings.max_categories)
    chi2, chi2_pvalue = st.chi_square(ref_counts, cur_counts)
    return {
        "feature": name,
        "kind": "categorical",
        "statistics": {
            "chi2": chi2,
            "chi2_pvalue": chi2_pvalue,
            "new_pvalue": st.new_categories(ref_counts, cur_counts),
            "js": st.js_distance(ref_counts, cur_counts),
        },
        "histogram": {
            "categories": categories,
            "reference": (ref_counts / max(ref.size, 1)).tolist(),
            "live": (cur_counts / max(cur.size, 1)).tolist(),
        },
    }


def _thresholds(kind: str, settings: DriftSettings) -> tuple[float, float]:
    if kind == "numeric":
        return settings.psi_warning, settings.psi_alert
    return settings.js_warning, settings.js_alert


def _level(value: float, warning: float, alert: float) -> str:
    if value >= alert:
        return "alert"
    return "warning" if value >= warning else "ok"
