"""Drift statistics between a reference sample and a live sample of one feature: pure numpy/scipy.

Numeric features get the population stability index (PSI) over bins cut at the reference's
quantiles and the two-sample Kolmogorov-Smirnov test; categorical features get the chi-square test
of homogeneity on category counts and the Jensen-Shannon distance between category shares.
Every function is vectorised: no Python loop runs per row. scipy is imported on first use: it
takes longer to import than the rest of the server, which needs it only for a drift report.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "EPSILON",
    "OTHER",
    "bin_shares",
    "category_counts",
    "chi_square",
    "is_categorical",
    "js_distance",
    "ks",
    "numeric_histogram",
    "psi",
    "quantile_edges",
]

EPSILON = 1e-4
"""Share given to an empty bin before PSI takes ``ln(live / reference)``, which is infinite for a
share of 0. With 1e-4 (0.01 %) an emptied bin adds at most about ``share x ln(share / 1e-4)``
(0.1 x ln 1000 ≈ 0.69 for a decile), so one empty bin is an alert but never an infinity."""

OTHER = "(other)"
"""The category that collects whatever falls beyond the most frequent ``max_categories``."""

Array = np.ndarray[Any, Any]


def is_categorical(reference: Array, max_categories: int) -> bool:
    """Strings, bytes and booleans are categories; integers too when the reference has at most
    ``max_categories`` distinct values (codes, counts of few values); everything else is a number."""
    kind = reference.dtype.kind
    if kind in "OSUb":
        return True
    if kind in "iu":
        return bool(np.unique(reference).size <= max_categories)
    return False


def quantile_edges(reference: Array, bins: int) -> Array:
    """The inner bin edges: the reference's 1/bins … (bins-1)/bins quantiles, duplicates removed
    (a reference with many ties gets fewer, wider bins)."""
    return np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))


def bin_shares(values: Array, edges: Array) -> Array:
    """The share of ``values`` in each bin ``(-inf, e0), [e0, e1), …, [e_last, inf)``."""
    index = np.searchsorted(edges, values, side="right")
    counts = np.bincount(index, minlength=edges.size + 1)
    return counts / max(values.size, 1)


def psi(reference: Array, live: Array, bins: int = 10) -> float:
    """Population stability index ``Σ (q - p) ln(q / p)`` over reference-quantile bins, where ``p``
    and ``q`` are the reference and live shares, each floored at ``EPSILON``."""
    edges = quantile_edges(reference, bins)
    p = np.maximum(bin_shares(reference, edges), EPSILON)
    q = np.maximum(bin_shares(live, edges), EPSILON)
    return float(np.sum((q - p) * np.log(q / p)))


def ks(reference: Array, live: Array) -> tuple[float, float]:
    """The two-sample Kolmogorov-Smirnov statistic (largest gap between the two empirical CDFs)
    and its two-sided p-value (exact for small samples, asymptotic for large ones)."""
    from scipy import stats

    result = stats.ks_2samp(reference, live)
    return float(result.statistic), float(result.pvalue)


def category_counts(reference: Array, live: Array, max_categories: int) -> tuple[list[str], Array, Array]:
    """Categories seen on either side, most frequent first, with their reference and live counts.

    Beyond ``max_categories`` the rarer ones are summed into ``OTHER`` (hashed identifiers, free
    text): the tests stay meaningful and the histogram stays readable.
    """
    both = np.concatenate([reference, live])
    if both.dtype.kind in "OSU":
        both = both.astype(str)  # one comparable type for text (and text mixed with numbers)
    values, index, counts = np.unique(both, return_inverse=True, return_counts=True)
    ref = np.bincount(index[: reference.size], minlength=values.size)
    cur = np.bincount(index[reference.size :], minlength=values.size)
    order = np.argsort(-counts, kind="stable")
    names = [str(v) for v in values[order]]
    ref, cur = ref[order], cur[order]
    if len(names) > max_categories:
        keep = max_categories - 1
        names = [*names[:keep], OTHER]
        ref = np.append(ref[:keep], ref[keep:].sum())
        cur = np.append(cur[:keep], cur[keep:].sum())
    return names, ref, cur


def chi_square(reference_counts: Array, live_counts: Array) -> tuple[float, float]:
    """Chi-square test of homogeneity on the 2 x k table of counts: (statistic, p-value).

    Homogeneity, not goodness of fit, because the reference is a sample too. Fewer than two
    categories cannot differ: (0, 1).
    """
    table = np.vstack([reference_counts, live_counts])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 0.0, 1.0
    from scipy import stats

    result = stats.chi2_contingency(table, correction=False)
    return float(result.statistic), float(result.pvalue)


def js_distance(reference_counts: Array, live_counts: Array) -> float:
    """Jensen-Shannon distance (base 2, so between 0 and 1) between the two category shares."""
    if reference_counts.sum() == 0 or live_counts.sum() == 0:
        return 0.0
    from scipy.spatial.distance import jensenshannon

    return float(jensenshannon(reference_counts, live_counts, base=2))


def numeric_histogram(reference: Array, live: Array, bins: int = 20) -> tuple[Array, Array, Array]:
    """Equal-width bins over both samples' range: (edges, reference shares, live shares), to draw."""
    both = np.concatenate([reference, live])
    low, high = (float(both.min()), float(both.max())) if both.size else (0.0, 1.0)
    if low == high:
        low, high = low - 0.5, high + 0.5
    edges = np.linspace(low, high, bins + 1)
    ref, _ = np.histogram(reference, edges)
    cur, _ = np.histogram(live, edges)
    return edges, ref / max(reference.size, 1), cur / max(live.size, 1)
