"""Drift statistics between a reference sample and a live sample of one feature: pure numpy/scipy.

Numeric features get the population stability index (PSI) over bins cut at the reference's
quantiles (a value that holds a whole bin's share gets a bin of its own) and the two-sample
Kolmogorov-Smirnov test; categorical features get the Jensen-Shannon distance between category
shares. The test of homogeneity of ``chi_square`` serves category counts, PSI bins and missing-value
counts alike; ``holm`` adjusts a family of p-values.
Every function is vectorised: no Python loop runs per row. scipy is imported on first use: it
takes longer to import than the rest of the server, which needs it only for a drift report.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "EPSILON",
    "MIN_EXPECTED",
    "OTHER",
    "bin_counts",
    "bin_edges",
    "category_counts",
    "chi_square",
    "holm",
    "is_categorical",
    "js_distance",
    "ks",
    "new_categories",
    "numeric_histogram",
    "psi",
    "psi_of_counts",
    "quantile_edges",
]

EPSILON = 1e-4
"""Share given to an empty bin before PSI takes ``ln(live / reference)``, which is infinite for a
share of 0. With 1e-4 (0.01 %) an emptied bin adds at most about ``share x ln(share / 1e-4)``
(0.1 x ln 1000 ≈ 0.69 for a decile), so one empty bin is an alert but never an infinity."""

MIN_EXPECTED = 10.0
"""Smallest expected count per cell for which ``chi_square`` trusts the chi-square distribution;
rarer columns are pooled, and a 2 x 2 table that stays below it gets Fisher's exact test. Without
pooling, unchanged 100-row windows with rare categories reached p < 0.01 in 2-7 % of windows;
with Cochran's usual 5, still 1.3-1.7 % against a large reference; with 10, about 1 %."""

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
    """The reference's 1/bins … (bins-1)/bins quantiles, duplicates removed (ties give fewer edges)."""
    return np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))


def bin_edges(reference: Array, bins: int) -> Array:
    """PSI's inner bin edges: the quantile edges, plus a bin of its own ``[v, next float after v)``
    for every value ``v`` that holds at least ``1/bins`` of the reference.

    Without those, a tied edge puts ``v`` and everything above it in one bin: a 0/1 flag going
    from 5 % to 20 % ones, or any change above a constant, left PSI at 0.
    """
    values, counts = np.unique(reference, return_counts=True)
    heavy = values[counts * bins >= reference.size]
    return np.unique(np.concatenate([quantile_edges(reference, bins), heavy, np.nextafter(heavy, np.inf)]))


def bin_counts(values: Array, edges: Array) -> Array:
    """How many ``values`` fall in each bin ``(-inf, e0), [e0, e1), …, [e_last, inf)``."""
    return np.bincount(np.searchsorted(edges, values, side="right"), minlength=edges.size + 1)


def psi(reference: Array, live: Array, bins: int = 10) -> float:
    """Population stability index over the bins of ``bin_edges``."""
    edges = bin_edges(reference, bins)
    return psi_of_counts(bin_counts(reference, edges), bin_counts(live, edges))


def psi_of_counts(reference_counts: Array, live_counts: Array) -> float:
    """``Σ (q - p) ln(q / p)``, where ``p`` and ``q`` are the reference and live shares of each bin,
    each floored at ``EPSILON``."""
    p = np.maximum(reference_counts / max(reference_counts.sum(), 1), EPSILON)
    q = np.maximum(live_counts / max(live_counts.sum(), 1), EPSILON)
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


def chi_square(reference_counts: Array, live_counts: Array, *, binned: bool = False) -> tuple[float, float]:
    """Test of homogeneity on the 2 x k table of counts: (chi-square statistic, p-value).

    Homogeneity, not goodness of fit, because the reference is a sample too. Columns where the
    smaller sample would expect fewer than ``MIN_EXPECTED`` rows are pooled into one (merged with
    the smallest other column while it is still too small); a 2 x 2 table that is still too small
    gets Fisher's exact p-value. Fewer than two columns cannot differ: (0, 1).

    Which columns to pool must not depend on how the two rows differ. For categories, the
    expectation comes from the column totals, which homogeneity leaves free. For ``binned``
    counts (PSI's bins, cut at the reference's quantiles) the reference counts are fixed by the
    cut and the totals follow the live counts: pooling where the live window happened to be low
    made 6 % of unchanged 100-row windows reach p < 0.01. There the expectation comes from the
    reference's share. (Deciding from the reference's share for categories fails the other way:
    against a 10,000-row window, a category that a 200-row reference happened to under-count
    gets pooled, and the pooled column differs.)
    """
    table = np.vstack([reference_counts, live_counts]).astype(np.float64)
    table = table[:, table.sum(axis=0) > 0]
    table = _pool(table, _at_reference_share if binned else _at_column_total)
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 0.0, 1.0
    from scipy import special, stats

    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    statistic = float(np.sum((table - expected) ** 2 / expected))
    if table.shape[1] == 2 and expected.min() < MIN_EXPECTED:
        return statistic, float(stats.fisher_exact(table.astype(np.int64)).pvalue)
    return statistic, float(special.chdtrc(table.shape[1] - 1, statistic))


def new_categories(reference_counts: Array, live_counts: Array) -> float:
    """Fisher's exact p-value that the categories the reference never holds take no more of the
    live rows than chance: ``chi_square`` pools such columns with the other rare ones, where ten
    new rows in a hundred are diluted past notice. 1 when the live rows hold no new category."""
    new = int(live_counts[reference_counts == 0].sum())
    if new == 0:
        return 1.0
    from scipy import stats

    table = [[0, int(reference_counts.sum())], [new, int(live_counts.sum()) - new]]
    return float(stats.fisher_exact(table).pvalue)


def _at_reference_share(table: Array) -> Array:
    """Per column, the rows the smaller sample would hold at the reference's share."""
    rows = table.sum(axis=1)
    expected: Array = rows.min() * table[0] / max(rows[0], 1)
    return expected


def _at_column_total(table: Array) -> Array:
    """Per column, the smaller of its two expected counts under homogeneity."""
    rows = table.sum(axis=1)
    expected: Array = rows.min() * table.sum(axis=0) / max(rows.sum(), 1)
    return expected


def _pool(table: Array, expect: Callable[[Array], Array]) -> Array:
    rare = expect(table) < MIN_EXPECTED
    if table.shape[1] <= 2 or not rare.any():
        return table
    kept, pooled = table[:, ~rare], table[:, rare].sum(axis=1, keepdims=True)
    while kept.shape[1] > 1 and expect(np.hstack([kept, pooled]))[-1] < MIN_EXPECTED:
        smallest = int(np.argmin(kept.sum(axis=0)))
        pooled = pooled + kept[:, smallest : smallest + 1]
        kept = np.delete(kept, smallest, axis=1)
    return np.hstack([kept, pooled])


def holm(pvalues: Array) -> Array:
    """Holm's step-down adjusted p-values: reject ``adjusted < alpha`` and the chance of any false
    rejection in the family stays below alpha, whatever the dependence between the tests."""
    m = pvalues.size
    order = np.argsort(pvalues, kind="stable")
    scaled = np.minimum((m - np.arange(m)) * pvalues[order], 1.0)
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(scaled)
    return adjusted


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
