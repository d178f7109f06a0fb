"""Exact path-dependent TreeSHAP (Lundberg, Erion and Lee, 2018, "Consistent Individualized Feature
Attribution for Tree Ensembles", Algorithm 2) for one tree, in plain Python.

The value of a feature set S at a row x is the tree's expectation when the features in S are fixed to
x's values and the others follow the training data down the tree (each split weighs its children by
their cover). The algorithm keeps, along the path from the root, the proportion of feature subsets
of each size that reach the node, so each leaf adds its share to every feature on its path in time
proportional to the path's length squared: O(leaves x depth²) per row.

All rows go down the tree together: a subset's share that reaches a node depends on the row only
through whether the row takes that branch (its "one" fraction is 0 or 1), so the path holds one
weight per row and each step is a numpy operation over the rows.
"""

from __future__ import annotations

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


def tree_shap(tree: Tree, rows: np.ndarray, n_features: int) -> np.ndarray:
    """The Shapley values ``[rows, outputs, n_features]`` of ``rows`` (``[rows, features]``); a row's
    add up to the tree's answer for it less ``expected_value(tree)``."""
    phi = np.zeros((len(rows), tree.value.shape[1], n_features))
    with np.errstate(divide="ignore", invalid="ignore"):  # the branch not taken may divide by 0
        _recurse(tree, rows, phi, 0, [], 1.0, np.ones(len(rows)), -1)
    return phi


@dataclass(slots=True)
class _Element:
    """A split on the path: the share of subsets without its feature that pass (``zero``, the same
    for every row) and with it (``one``: 1 where the row takes this branch, else 0), and ``weight``,
    per row, the proportion of subsets of this element's size."""

    feature: int
    zero: float
    one: np.ndarray
    weight: np.ndarray


def _recurse(
    tree: Tree,
    rows: np.ndarray,
    phi: np.ndarray,
    node: int,
    path: list[_Element],
    zero: float,
    one: np.ndarray,
    feature: int,
) -> None:
    path = _extend(path, zero, one, feature)
    left = int(tree.left[node])
    if left < 0:
        for i in range(1, len(path)):
            share = _unwound_sum(path, i) * (path[i].one - path[i].zero)
            phi[:, :, path[i].feature] += share[:, np.newaxis] * tree.value[node]
        return
    right = int(tree.right[node])
    split = int(tree.feature[node])
    values = rows[:, split]
    goes_left = np.where(np.isnan(values), bool(tree.missing_left[node]), values <= tree.threshold[node])
    incoming_zero, incoming_one = 1.0, np.ones(len(rows))
    seen = next((i for i in range(1, len(path)) if path[i].feature == split), None)
    if seen is not None:  # a feature met again on the path: undo its first split before this one
        incoming_zero, incoming_one = path[seen].zero, path[seen].one
        path = _unwind(path, seen)
    cover = float(tree.cover[node])
    for child, taken in ((left, goes_left), (right, ~goes_left)):
        passing = incoming_zero * float(tree.cover[child]) / cover
        _recurse(tree, rows, phi, child, path, passing, incoming_one * taken, split)


def _extend(path: list[_Element], zero: float, one: np.ndarray, feature: int) -> list[_Element]:
    """The path with a split on ``feature`` added (a new list: the caller's path stays as it was)."""
    depth = len(path)
    first = np.ones_like(one) if depth == 0 else np.zeros_like(one)
    weights = [element.weight.copy() for element in path] + [first]
    for i in range(depth - 1, -1, -1):
        weights[i + 1] += one * weights[i] * (i + 1) / (depth + 1)
        weights[i] = zero * weights[i] * (depth - i) / (depth + 1)
    elements = [*path, _Element(feature, zero, one, first)]
    return [_Element(e.feature, e.zero, e.one, w) for e, w in zip(elements, weights, strict=True)]


def _unwind(path: list[_Element], index: int) -> list[_Element]:
    """The path as if element ``index``'s split had not been extended."""
    last = len(path) - 1
    zero, one = path[index].zero, path[index].one
    taken = one != 0
    weights = [element.weight.copy() for element in path]
    carried = weights[last]
    for j in range(last - 1, -1, -1):
        with_one = carried * (last + 1) / ((j + 1) * np.where(taken, one, 1.0))
        carried = weights[j] - with_one * zero * (last - j) / (last + 1)
        weights[j] = np.where(taken, with_one, weights[j] * (last + 1) / (zero * (last - j)))
    kept = path[:index] + path[index + 1 :]
    return [_Element(e.feature, e.zero, e.one, w) for e, w in zip(kept, weights[:last], strict=True)]


def _unwound_sum(path: list[_Element], index: int) -> np.ndarray:
    """The total weight of ``_unwind(path, index)``, per row, without building it."""
    last = len(path) - 1
    zero, one = path[index].zero, path[index].one
    taken = one != 0
    total = np.zeros_like(one)
    carried = path[last].weight
    for j in range(last - 1, -1, -1):
        with_one = carried * (last + 1) / ((j + 1) * np.where(taken, one, 1.0))
        total += np.where(taken, with_one, path[j].weight * (last + 1) / (zero * (last - j)))
        carried = path[j].weight - with_one * zero * (last - j) / (last + 1)
    return total
