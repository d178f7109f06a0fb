"""Exact path-dependent TreeSHAP (Lundberg, Erion and Lee, 2018, "Consistent Individualized Feature
Attribution for Tree Ensembles", Algorithm 2) for one tree, in plain Python.

The value of a feature set S at a row x is the tree's expectation when the features in S are fixed to
x's values and the others follow the training data down the tree (each split weighs its children by
their cover). The algorithm keeps, along the path from the root, the proportion of feature subsets
of each size that reach the node, so each leaf adds its share to every feature on its path in time
proportional to the path's length squared: O(leaves x depth²) per row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Tree", "expected_value", "tree_shap"]


@dataclass(frozen=True, slots=True)
class Tree:
    """One binary tree: a row goes left at node i when ``x[feature[i]] <= threshold[i]`` (a missing
    value goes left where ``missing_left[i]``); ``left[i] < 0`` marks a leaf."""

    left: np.ndarray
    right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    missing_left: np.ndarray
    cover: np.ndarray
    """The (weighted) training rows that reached each node."""
    value: np.ndarray
    """``[nodes, outputs]``: what a row ending at a leaf gets."""


def expected_value(tree: Tree, node: int = 0) -> np.ndarray:
    """The tree's answer averaged over its training rows (children weighed by cover): the base value."""
    left, right = int(tree.left[node]), int(tree.right[node])
    if left < 0:
        return np.asarray(tree.value[node], dtype=np.float64)
    weighted = tree.cover[left] * expected_value(tree, left) + tree.cover[right] * expected_value(tree, right)
    return np.asarray(weighted / (tree.cover[left] + tree.cover[right]))


def tree_shap(tree: Tree, x: np.ndarray, n_features: int) -> np.ndarray:
    """The Shapley values ``[outputs, n_features]`` of row ``x``; they add up to the tree's answer
    for ``x`` less ``expected_value(tree)``."""
    phi = np.zeros((tree.value.shape[1], n_features))
    _recurse(tree, x, phi, 0, [], 1.0, 1.0, -1)
    return phi


_Path = list[list[float]]
"""Each element: [feature, zero fraction, one fraction, weight]; the first is a placeholder."""


def _recurse(
    tree: Tree, x: np.ndarray, phi: np.ndarray, node: int, path: _Path, zero: float, one: float, feature: int
) -> None:
    path = [list(element) for element in path]
    _extend(path, zero, one, feature)
    left = int(tree.left[node])
    if left < 0:
        for i in range(1, len(path)):
            share = _unwound_sum(path, i) * (path[i][2] - path[i][1])
            phi[:, int(path[i][0])] += share * tree.value[node]
        return
    right = int(tree.right[node])
    split = int(tree.feature[node])
    value = float(x[split])
    goes_left = bool(tree.missing_left[node]) if math.isnan(value) else value <= tree.threshold[node]
    hot, cold = (left, right) if goes_left else (right, left)
    incoming_zero = incoming_one = 1.0
    seen = next((i for i in range(1, len(path)) if int(path[i][0]) == split), None)
    if seen is not None:  # a feature met again on the path: undo its first split before this one
        incoming_zero, incoming_one = path[seen][1], path[seen][2]
        path = _unwind(path, seen)
    cover = float(tree.cover[node])
    _recurse(tree, x, phi, hot, path, incoming_zero * tree.cover[hot] / cover, incoming_one, split)
    _recurse(tree, x, phi, cold, path, incoming_zero * tree.cover[cold] / cover, 0.0, split)


def _extend(path: _Path, zero: float, one: float, feature: int) -> None:
    """Add a split on ``feature``: subsets without it pass with ``zero``, with it with ``one``."""
    depth = len(path)
    path.append([feature, zero, one, 1.0 if depth == 0 else 0.0])
    for i in range(depth - 1, -1, -1):
        path[i + 1][3] += one * path[i][3] * (i + 1) / (depth + 1)
        path[i][3] = zero * path[i][3] * (depth - i) / (depth + 1)


def _unwind(path: _Path, index: int) -> _Path:
    """The path as if element ``index``'s split had not been extended."""
    last = len(path) - 1
    zero, one = path[index][1], path[index][2]
    weights = [element[3] for element in path]
    carried = weights[last]
    for j in range(last - 1, -1, -1):
        if one != 0:
            before = weights[j]
            weights[j] = carried * (last + 1) / ((j + 1) * one)
            carried = before - weights[j] * zero * (last - j) / (last + 1)
        else:
            weights[j] = weights[j] * (last + 1) / (zero * (last - j))
    kept = path[:index] + path[index + 1 :]
    return [[e[0], e[1], e[2], w] for e, w in zip(kept, weights[:last], strict=True)]


def _unwound_sum(path: _Path, index: int) -> float:
    """The total weight of ``_unwind(path, index)``, without building it."""
    last = len(path) - 1
    zero, one = path[index][1], path[index][2]
    total = 0.0
    if one != 0:
        carried = path[last][3]
        for j in range(last - 1, -1, -1):
            weight = carried * (last + 1) / ((j + 1) * one)
            total += weight
            carried = path[j][3] - weight * zero * (last - j) / (last + 1)
    else:
        for j in range(last - 1, -1, -1):
            total += path[j][3] * (last + 1) / (zero * (last - j))
    return total
