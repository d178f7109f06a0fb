"""TreeSHAP (``treeshap.py``) for scikit-learn's tree models: a decision tree, a random forest or
extra trees (the mean of their trees), and gradient boosting (its initial raw score plus the
learning rate times the sum of its trees).

What is explained is what the model answers: a regressor's prediction, a tree or forest
classifier's probability of each class, and gradient boosting classifier's raw score
(``decision_function``: log-odds of the positive class when binary, one score per class otherwise).
Rows are compared as scikit-learn compares them, in FP32.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from modelport.core.errors import InvalidInput
from modelport.explanations.attributions import Attributions, class_labels, output_keys
from modelport.explanations.treeshap import Tree, expected_value, tree_shap

__all__ = ["SklearnTreeExplainer", "is_tree_model"]

_FORESTS = {"RandomForestRegressor", "RandomForestClassifier", "ExtraTreesRegressor", "ExtraTreesClassifier"}
_SINGLE = {"DecisionTreeRegressor", "DecisionTreeClassifier", "ExtraTreeRegressor", "ExtraTreeClassifier"}
_BOOSTED = {"GradientBoostingRegressor", "GradientBoostingClassifier"}
_DEFAULT_INITS = {"DummyRegressor", "DummyClassifier"}


def is_tree_model(estimator: Any) -> bool:
    """Whether TreeSHAP explains ``estimator`` (one output; gradient boosting with its default start)."""
    kind = type(estimator).__name__
    if kind in _BOOSTED:
        init = getattr(estimator, "init_", None)
        return init == "zero" or type(init).__name__ in _DEFAULT_INITS
    if kind not in _FORESTS | _SINGLE:
        return False
    return not _is_classifier(estimator) or int(getattr(estimator, "n_outputs_", 1)) == 1


class SklearnTreeExplainer:
    def __init__(self, model: Any) -> None:
        """``model``: a runtime ``SklearnModel`` whose estimator ``is_tree_model``."""
        self._model = model
        estimator = model.native
        self._n_features = int(estimator.n_features_in_)
        kind = type(estimator).__name__
        if kind in _BOOSTED:
            self._trees, self._scale, self._start = _boosted(estimator)
        else:
            estimators = estimator.estimators_ if kind in _FORESTS else [estimator]
            classifier = _is_classifier(estimator)
            self._trees = [_tree(e.tree_, probabilities=classifier) for e in estimators]
            self._scale, self._start = 1.0 / len(self._trees), np.zeros(self._trees[0].value.shape[1])
        self._base = self._start + self._scale * sum(expected_value(t) for t in self._trees)
        self.outputs = _outputs(model, estimator, len(self._base))

    def explain(self, inputs: Mapping[str, np.ndarray]) -> Attributions:
        rows = np.asarray(self._model.features(inputs), dtype=np.float32).astype(np.float64)
        values = np.zeros((len(rows), len(self._base), self._n_features))
        for tree in self._trees:
            values += tree_shap(tree, rows, self._n_features)
        return Attributions(self._scale * values, self._base, self.outputs)


def _is_classifier(estimator: Any) -> bool:
    return hasattr(estimator, "classes_") and hasattr(estimator, "predict_proba")


def _tree(tree: Any, *, probabilities: bool) -> Tree:
    """A fitted ``tree_``; a classifier's leaves hold class fractions (normalised here)."""
    value = np.asarray(tree.value, dtype=np.float64)
    if probabilities:
        value = value[:, 0, :]
        value = value / np.maximum(value.sum(axis=1, keepdims=True), np.finfo(np.float64).tiny)
    else:
        value = value[:, :, 0]
    return Tree(
        left=tree.children_left,
        right=tree.children_right,
        feature=tree.feature,
        threshold=tree.threshold,
        missing_left=np.asarray(tree.missing_go_to_left, dtype=bool),
        cover=np.asarray(tree.weighted_n_node_samples, dtype=np.float64),
        value=value,
    )


def _boosted(estimator: Any) -> tuple[list[Tree], float, np.ndarray]:
    """The trees of every stage (one column per class each), the learning rate and the start."""
    stages = estimator.estimators_  # [stages, raw outputs]: one regression tree per class and stage
    n_outputs = stages.shape[1]
    trees = []
    for stage in stages:
        for column, regressor in enumerate(stage):
            tree = _tree(regressor.tree_, probabilities=False)
            if n_outputs > 1:  # a class's tree adds to that class's raw score only
                value = np.zeros((len(tree.value), n_outputs))
                value[:, column] = tree.value[:, 0]
                tree = replace(tree, value=value)
            trees.append(tree)
    zeros = np.zeros((1, int(estimator.n_features_in_)))
    start = np.asarray(estimator._raw_predict_init(zeros), dtype=np.float64)[0]  # constant: a default init
    return trees, float(estimator.learning_rate), start


def _outputs(model: Any, estimator: Any, width: int) -> tuple[str, ...]:
    labels = class_labels(model.signature)
    if labels is not None and _is_classifier(estimator):
        if len(labels) == width:
            return tuple(labels)
        if width == 1 and len(labels) == 2:  # gradient boosting, binary: the positive class's log-odds
            return (labels[1],)
        raise InvalidInput(f"the model explains {width} outputs but names {len(labels)} classes")
    return output_keys(model.signature.outputs[0], width)
