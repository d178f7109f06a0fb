"""Drift statistics against values worked out by hand on small fixed samples."""

from __future__ import annotations

import math

import numpy as np
import pytest

from modelport.monitoring.drift import statistics as st


def test_psi_on_reference_quartiles() -> None:
    reference = np.arange(100, dtype=float)  # quartile edges 24.75, 49.5, 74.25: 25 rows per bin
    live = np.repeat([0.0, 30.0, 60.0, 90.0], [40, 10, 10, 40])  # shares 0.4, 0.1, 0.1, 0.4
    expected = 2 * (0.4 - 0.25) * math.log(0.4 / 0.25) + 2 * (0.1 - 0.25) * math.log(0.1 / 0.25)
    assert st.psi(reference, live, bins=4) == pytest.approx(expected)
    assert expected == pytest.approx(0.3 * math.log(4))


def test_psi_floors_empty_bins_at_epsilon() -> None:
    reference = np.arange(100, dtype=float)
    live = np.zeros(50)  # everything in the first quartile, the three others empty
    eps = 1e-4
    expected = (1 - 0.25) * math.log(1 / 0.25) + 3 * (eps - 0.25) * math.log(eps / 0.25)
    assert st.psi(reference, live, bins=4) == pytest.approx(expected)


def test_psi_is_zero_for_the_same_sample() -> None:
    sample = np.random.default_rng(1).normal(size=500)
    assert st.psi(sample, sample) == pytest.approx(0.0)


def test_quantile_edges_merge_ties() -> None:
    # Deciles of 80 ones and 20 twos: 1 up to the 7th, 1.2 at the 8th (index 79.2 of 99), 2 after.
    edges = st.quantile_edges(np.array([1.0] * 80 + [2.0] * 20), 10)
    assert edges.tolist() == pytest.approx([1.0, 1.2, 2.0])
    assert st.bin_counts(np.array([0.0, 1.0, 5.0]), np.array([1.0])).tolist() == [1, 2]


def test_a_value_holding_a_bins_share_gets_a_bin_of_its_own() -> None:
    edges = st.bin_edges(np.array([1.0] * 80 + [2.0] * 20), 10)
    assert edges[[0, 1, 3, 4]].tolist() == [1.0, np.nextafter(1.0, 2.0), 2.0, np.nextafter(2.0, 3.0)]
    assert edges[2] == pytest.approx(1.2)
    assert st.bin_counts(np.array([0.5, 1.0, 1.0, 1.1, 2.0, 2.5]), edges).tolist() == [1, 2, 1, 0, 1, 1]


def test_holm_by_hand() -> None:
    # Sorted 0.01, 0.02, 0.04 scaled by 3, 2, 1: 0.03, 0.04, 0.04 (kept non-decreasing).
    adjusted = st.holm(np.array([0.04, 0.01, 0.02]))
    assert adjusted.tolist() == pytest.approx([0.04, 0.03, 0.04])
    assert st.holm(np.array([0.5, 0.9])).tolist() == pytest.approx([1.0, 1.0])


def test_chi_square_pools_rare_columns_and_uses_fishers_exact_test_on_two() -> None:
    from scipy import stats

    # The expected live counts of the last three columns are below MIN_EXPECTED (95 x 50 / 1030 ≈ 4.6):
    # pooled into one, whose expected count is 13.8.
    statistic, pvalue = st.chi_square(np.array([400, 400, 45, 45, 45]), np.array([40, 40, 5, 4, 6]))
    pooled = stats.chi2_contingency(np.array([[400, 400, 135], [40, 40, 15]]), correction=False)
    assert (statistic, pvalue) == pytest.approx((pooled.statistic, pooled.pvalue))
    # A constant reference, and 3 of 100 live rows at a new value: two columns, too small for chi-square.
    _, pvalue = st.chi_square(np.array([1000, 0]), np.array([97, 3]))
    assert pvalue == pytest.approx(stats.fisher_exact([[1000, 0], [97, 3]]).pvalue)


def test_ks_separated_samples() -> None:
    # The empirical CDFs differ by 1 between 3 and 4. Exactly: of the C(6,3) = 20 equally likely
    # orderings of the pooled values, only 2 (all reference first, or all live first) reach D = 1.
    statistic, pvalue = st.ks(np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0, 6.0]))
    assert statistic == 1.0
    assert pvalue == pytest.approx(2 / 20)


def test_ks_partial_overlap() -> None:
    # At x = 2: reference CDF 2/4, live CDF 0/4; the largest gap is 0.5.
    statistic, _ = st.ks(np.array([1.0, 2.0, 3.0, 4.0]), np.array([3.0, 4.0, 5.0, 6.0]))
    assert statistic == 0.5


def test_chi_square_on_a_two_by_two_table() -> None:
    # Expected 50 in every cell; each deviates by 20: 4 x 20^2 / 50 = 32, one degree of freedom.
    statistic, pvalue = st.chi_square(np.array([30, 70]), np.array([70, 30]))
    assert statistic == pytest.approx(32.0)
    assert pvalue == pytest.approx(math.erfc(math.sqrt(32 / 2)))


def test_chi_square_with_one_category_cannot_differ() -> None:
    assert st.chi_square(np.array([10]), np.array([5])) == (0.0, 1.0)


def test_js_distance_by_hand() -> None:
    # p = (1/2, 1/2), q = (1, 0), m = (3/4, 1/4)
    kl_p = 0.5 * math.log2(0.5 / 0.75) + 0.5 * math.log2(0.5 / 0.25)
    kl_q = 1.0 * math.log2(1 / 0.75)
    expected = math.sqrt((kl_p + kl_q) / 2)
    assert st.js_distance(np.array([50, 50]), np.array([20, 0])) == pytest.approx(expected)
    assert st.js_distance(np.array([3, 7]), np.array([30, 70])) == pytest.approx(0.0, abs=1e-9)


def test_category_counts_keep_the_most_frequent_and_lump_the_rest() -> None:
    reference = np.array(["a"] * 5 + ["b"] * 3 + ["c", "d"], dtype=object)
    live = np.array(["a", "e", "e"], dtype=object)
    names, ref, cur = st.category_counts(reference, live, max_categories=3)
    assert names == ["a", "b", st.OTHER]
    assert ref.tolist() == [5, 3, 2]
    assert cur.tolist() == [1, 0, 2]


@pytest.mark.parametrize(
    ("values", "categorical"),
    [
        (np.array(["x", "y"], dtype=object), True),
        (np.array([True, False]), True),
        (np.arange(20) % 3, True),
        (np.arange(100), False),
        (np.array([0.0, 1.0, 0.0]), False),
    ],
)
def test_which_features_are_categorical(values: np.ndarray, categorical: bool) -> None:  # type: ignore[type-arg]
    assert st.is_categorical(values, max_categories=20) is categorical


def test_numeric_histogram_covers_both_samples() -> None:
    edges, ref, cur = st.numeric_histogram(np.array([0.0, 1.0]), np.array([3.0, 4.0]), bins=4)
    assert edges.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert ref.tolist() == [0.5, 0.5, 0.0, 0.0]
    assert cur.tolist() == [0.0, 0.0, 0.0, 1.0]


def test_new_categories_by_fishers_exact_test() -> None:
    from scipy import stats

    assert st.new_categories(np.array([10, 5]), np.array([3, 3])) == 1.0
    expected = stats.fisher_exact([[0, 15], [4, 2]]).pvalue
    assert st.new_categories(np.array([10, 5, 0]), np.array([1, 1, 4])) == pytest.approx(expected)


def test_the_effect_sizes_docs_monitoring_quotes() -> None:
    assert st.psi_of_counts(np.array([95, 5]), np.array([80, 20])) == pytest.approx(0.23, abs=0.005)
    assert st.js_distance(np.array([0, 100]), np.array([5, 95])) == pytest.approx(0.16, abs=0.005)
    assert st.js_distance(np.array([0, 100]), np.array([10, 90])) == pytest.approx(0.23, abs=0.005)


def test_psi_bins_pool_at_the_reference_share_categories_at_the_column_totals() -> None:
    from scipy import stats

    # Bins cut at the reference's deciles hold 100 reference rows each. Two bins the live window
    # happens to fill with 3 rows have column totals of 103, an expectation of 9.4 live rows: a
    # category there is pooled, a bin is not (10 rows at the reference's share).
    reference, live = np.full(10, 100), np.array([3, 3, 12, 12, 12, 12, 12, 12, 12, 10])
    whole = stats.chi2_contingency(np.vstack([reference, live]), correction=False)
    assert st.chi_square(reference, live, binned=True) == pytest.approx((whole.statistic, whole.pvalue))
    pooled = np.vstack([[*reference[2:], 200], [*live[2:], 6]])
    expected = stats.chi2_contingency(pooled, correction=False)
    assert st.chi_square(reference, live) == pytest.approx((expected.statistic, expected.pvalue))
