"""TreeSHAP on scikit-learn's tree models, loaded by the runtime: each row's attributions plus the
base value are the model's own answer (``predict``, ``predict_proba``, ``decision_function``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skops.io
from sklearn.datasets import load_iris
from sklearn.ensemble import (
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LinearRegression
from sklearn.tree import DecisionTreeClassifier

from modelport.explanations.sklearn_trees import SklearnTreeExplainer, is_tree_model
from modelport.runtimes import LoadOptions, get_runtime

X, Y = load_iris(return_X_y=True)
ROWS = X[[0, 1, 55, 70, 101, 140]]


def _explained(estimator: Any, tmp_path: Path) -> tuple[np.ndarray, tuple[str, ...]]:
    path = tmp_path / "model.skops"
    skops.io.dump(estimator, path)
    model = get_runtime("sklearn").load(path, LoadOptions(trusted=True))
    attributions = SklearnTreeExplainer(model).explain({"input": ROWS})
    assert attributions.values.shape[2] == 4
    return attributions.values.sum(axis=2) + attributions.base, attributions.outputs


@pytest.mark.parametrize(
    ("estimator", "answer", "outputs"),
    [
        (DecisionTreeClassifier(max_depth=4, random_state=0).fit(X, Y), "predict_proba", ("0", "1", "2")),
        (
            RandomForestClassifier(n_estimators=4, max_depth=4, random_state=0).fit(X, Y),
            "predict_proba",
            None,
        ),
        (
            RandomForestRegressor(n_estimators=3, max_depth=4, random_state=0).fit(X, Y),
            "predict",
            ("prediction",),
        ),
        (ExtraTreesRegressor(n_estimators=3, max_depth=4, random_state=0).fit(X, Y), "predict", None),
        (GradientBoostingRegressor(n_estimators=8, max_depth=2, random_state=0).fit(X, Y), "predict", None),
        (
            GradientBoostingClassifier(n_estimators=8, max_depth=2).fit(X, Y == 1),
            "decision_function",
            ("True",),
        ),
        (GradientBoostingClassifier(n_estimators=4, max_depth=2).fit(X, Y), "decision_function", None),
    ],
    ids=lambda value: type(value).__name__ if hasattr(value, "fit") else "",
)
def test_attributions_add_up_to_the_models_answer(
    estimator: Any, answer: str, outputs: tuple[str, ...] | None, tmp_path: Path
) -> None:
    totals, names = _explained(estimator, tmp_path)
    expected = getattr(estimator, answer)(ROWS)
    assert np.allclose(totals, expected.reshape(len(ROWS), -1))
    if outputs is not None:
        assert names == outputs


def test_only_tree_models_are_explained_by_treeshap() -> None:
    assert not is_tree_model(LinearRegression().fit(X, Y))
    assert not is_tree_model(GradientBoostingRegressor(init=LinearRegression(), n_estimators=2).fit(X, Y))
    assert is_tree_model(GradientBoostingRegressor(init="zero", n_estimators=2).fit(X, Y))
