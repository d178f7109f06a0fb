"""The exact TreeSHAP agrees with Shapley values computed by brute force over every feature subset,
for the same value function: the tree's expectation with the subset's features fixed to the row's
values and the others following the training rows down the tree (children weighed by cover)."""

from __future__ import annotations

import itertools
import math

import numpy as np
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from modelport.explanations.sklearn_trees import _tree
from modelport.explanations.treeshap import expected_value, tree_shap


def _fixed(tree: object, node: int, x: np.ndarray, subset: set[int]) -> np.ndarray:
    t = tree.tree_  # type: ignore[attr-defined]
    value = t.value[node].sum(axis=0) if t.n_outputs == 1 else t.value[node][:, 0]
    left, right = t.children_left[node], t.children_right[node]
    if left < 0:
        return np.asarray(value / value.sum() if isinstance(tree, DecisionTreeClassifier) else value)
    feature = t.feature[node]
    if feature in subset:
        goes_left = t.missing_go_to_left[node] if np.isnan(x[feature]) else x[feature] <= t.threshold[node]
        return _fixed(tree, left if goes_left else right, x, subset)
    cover = t.weighted_n_node_samples
    both = cover[left] * _fixed(tree, left, x, subset) + cover[right] * _fixed(tree, right, x, subset)
    return np.asarray(both / (cover[left] + cover[right]))


def _brute_force(tree: object, x: np.ndarray, n: int) -> np.ndarray:
    phi = np.zeros((len(_fixed(tree, 0, x, set())), n))
    for i in range(n):
        others = [j for j in range(n) if j != i]
        for size in range(n):
            weight = math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
            for subset in itertools.combinations(others, size):
                phi[:, i] += weight * (_fixed(tree, 0, x, {*subset, i}) - _fixed(tree, 0, x, set(subset)))
    return phi


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 4)).astype(np.float32).astype(np.float64)
    y = 2 * x[:, 0] + x[:, 1] * x[:, 2] + (x[:, 0] > 0) * x[:, 3]
    x[rng.random(400) < 0.05, 1] = np.nan  # the trees learn where a missing value goes
    return x, y


def test_treeshap_matches_brute_force_shapley_values_of_a_regression_tree() -> None:
    x, y = _data()
    model = DecisionTreeRegressor(max_depth=6, random_state=0).fit(x, y)
    tree = _tree(model.tree_, probabilities=False)
    rows = np.vstack([x[:6], [[0.3, np.nan, -1.0, 2.0]]])
    phi = tree_shap(tree, rows, 4)
    for row, got in zip(rows, phi, strict=True):
        assert np.allclose(got, _brute_force(model, row, 4), atol=1e-10)
    assert np.allclose(phi.sum(axis=(1, 2)) + expected_value(tree)[0], model.predict(rows))


def test_treeshap_matches_brute_force_for_each_class_of_a_classification_tree() -> None:
    x, y = _data()
    model = DecisionTreeClassifier(max_depth=5, random_state=0).fit(x, np.digitize(y, [-1.0, 1.0]))
    tree = _tree(model.tree_, probabilities=True)
    phi = tree_shap(tree, x[:5], 4)
    assert phi.shape == (5, 3, 4)
    for row, got in zip(x[:5], phi, strict=True):
        assert np.allclose(got, _brute_force(model, row, 4), atol=1e-10)
    assert np.allclose(phi.sum(axis=2) + expected_value(tree), model.predict_proba(x[:5]))
