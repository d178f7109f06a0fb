"""Untrusted skops files hold estimators and data only; anything that is code needs trust (issue 15)."""

from __future__ import annotations

import functools
import json
import operator
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.special
import skops.io
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.datasets import load_diabetes, load_iris
from sklearn.ensemble import (
    ExtraTreesClassifier,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
)
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge, SGDClassifier
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

import modelport
from modelport.core import Forbidden
from modelport.runtimes.skops_types import MATH_UFUNCS, disallowed_types
from tests import models
from tests.unit.runtimes.conftest import load

X, Y = load_iris(return_X_y=True)
XD, YD = load_diabetes(return_X_y=True)

COMMON: dict[str, Callable[[], BaseEstimator]] = {
    "random-forest": lambda: RandomForestClassifier(n_estimators=5, random_state=0).fit(X, Y),
    "logistic": lambda: LogisticRegression(max_iter=500).fit(X, Y),
    "column-pipeline": lambda: Pipeline(
        [
            (
                "columns",
                ColumnTransformer(
                    [("num", StandardScaler(), [0, 1]), ("cat", OneHotEncoder(handle_unknown="ignore"), [2])],
                    remainder="passthrough",
                ),
            ),
            ("model", LogisticRegression(max_iter=500)),
        ]
    ).fit(X, Y),
    "gradient-boosting": lambda: GradientBoostingClassifier(n_estimators=5).fit(X, Y),
    "gradient-boosting-regressor": lambda: GradientBoostingRegressor(n_estimators=5).fit(XD, YD),
    "hist-gradient-boosting": lambda: HistGradientBoostingClassifier(max_iter=5).fit(X, Y),
    "hist-gradient-boosting-regressor": lambda: HistGradientBoostingRegressor(max_iter=5).fit(XD, YD),
    "kneighbors-kd-tree": lambda: KNeighborsClassifier().fit(X, Y),
    "kneighbors-ball-tree": lambda: KNeighborsRegressor(algorithm="ball_tree").fit(XD, YD),
    "svc-probability": lambda: SVC(probability=True, random_state=0).fit(X, Y),
    "decision-tree": lambda: DecisionTreeClassifier(random_state=0).fit(X, Y),
    "extra-trees": lambda: ExtraTreesClassifier(n_estimators=5, random_state=0).fit(X, Y),
    "linear-regression": lambda: LinearRegression().fit(XD, YD),
    "ridge": lambda: Ridge().fit(XD, YD),
    "sgd": lambda: SGDClassifier(random_state=0).fit(X, Y),
    "mlp": lambda: MLPClassifier(max_iter=20, random_state=0).fit(X, Y),
    "log-target": lambda: TransformedTargetRegressor(Ridge(), func=np.log1p, inverse_func=np.expm1).fit(
        XD, YD
    ),
    "expit-features": lambda: make_pipeline(FunctionTransformer(scipy.special.expit), Ridge()).fit(XD, YD),
}


def _double(features: np.ndarray) -> np.ndarray:
    return features * 2


def _dumped(path: Path, estimator: object) -> Path:
    skops.io.dump(estimator, path)
    return path


def _schema(path: Path) -> dict[str, Any]:
    with zipfile.ZipFile(path) as archive:
        schema: dict[str, Any] = json.loads(archive.read("schema.json"))
    return schema


def _rewritten(path: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    """A copy of the skops file at ``path`` whose schema.json went through ``edit``: a hand-made file."""
    schema = _schema(path)
    edit(schema)
    out = path.with_name("edited-" + path.name)
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            data = json.dumps(schema).encode() if item.filename == "schema.json" else source.read(item)
            target.writestr(item, data)
    return out


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # tiny fits
@pytest.mark.filterwarnings("ignore:The `probability` parameter:FutureWarning")  # sklearn 1.9
@pytest.mark.parametrize("name", sorted(COMMON))
def test_common_estimators_register_without_trust(name: str, tmp_path: Path) -> None:
    estimator = COMMON[name]()
    features = XD[:3] if estimator.n_features_in_ == XD.shape[1] else X[:3]
    version = modelport.register(estimator, name, sample_input=features, home=tmp_path)
    assert not version.trusted
    model = load("sklearn", _dumped(tmp_path / "model.skops", estimator))
    outputs = model.predict({"input": features})
    np.testing.assert_allclose(next(iter(outputs.values())), estimator.predict(features))  # type: ignore[attr-defined]


def test_the_runstring_pipeline_is_refused_and_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    path = models.runstring_skops(tmp_path, marker)
    with pytest.raises(
        Forbidden, match=r"numpy\.full_like, numpy\.take, numpy\.testing\..*runstring.*--trust"
    ):
        load("sklearn", path)
    with pytest.raises(Forbidden, match="runstring"):
        modelport.register(path, "attack", home=tmp_path / "home")
    assert not marker.exists()
    load("sklearn", path, trusted=True)  # trust loads it as before; loading alone runs nothing
    assert not marker.exists()


@pytest.mark.parametrize(
    ("func", "shown"),
    [
        (_double, "test_skops_allowlist._double"),
        (functools.partial(np.multiply, 2), "functools.partial"),
        (np.full_like, "numpy.full_like"),
        (np.add, "numpy.add"),  # a ufunc, but not one of the reviewed one-number ones
        (eval, "builtins.eval"),  # skops files builtins as types
        (operator.methodcaller("copy"), "operator.methodcaller"),
        (np.random.seed, "cython_function_or_method"),
    ],
)
def test_callables_need_trust(func: object, shown: str, tmp_path: Path) -> None:
    path = _dumped(tmp_path / "f.skops", make_pipeline(FunctionTransformer(func), LinearRegression()))
    with pytest.raises(Forbidden, match=rf"\(.*{shown}.*\); pass --trust"):
        load("sklearn", path)


def test_a_bound_method_needs_trust(tmp_path: Path) -> None:
    inner = StandardScaler().fit(X)
    path = _dumped(
        tmp_path / "m.skops", make_pipeline(FunctionTransformer(inner.transform), LinearRegression())
    )
    assert disallowed_types(_schema(path)) == ["sklearn.preprocessing._data.StandardScaler (MethodNode)"]


def test_reviewed_math_ufuncs_load_without_trust(tmp_path: Path) -> None:
    for func in (np.log1p, np.expm1, np.sqrt, scipy.special.expit, scipy.special.logit):
        path = _dumped(tmp_path / "u.skops", FunctionTransformer(func))
        assert disallowed_types(_schema(path)) == [], func


def _set_root(module: str, name: str, loader: str | None = None) -> Callable[[dict[str, Any]], None]:
    def edit(schema: dict[str, Any]) -> None:
        schema.update({"__module__": module, "__class__": name})
        if loader:
            schema["__loader__"] = loader

    return edit


@pytest.mark.parametrize(
    ("edit", "refused"),
    [
        # skops calls the class a container node names, and the class a numpy scalar node names
        (_set_root("builtins", "exec", "DictNode"), "builtins.exec"),
        (_set_root("numpy.testing", "runstring", "NdArrayNode"), "numpy.testing.runstring"),
        (
            _set_root("builtins", "eval", "ConstructorFromReduceNode"),
            "builtins.eval (ConstructorFromReduceNode)",
        ),
        (_set_root("os", "system", "ObjectNode"), "os.system"),
        (
            _set_root("sklearn.utils._testing", "MinimalClassifier"),
            "sklearn.utils._testing.MinimalClassifier",
        ),
        (_set_root("sklearn.base", "clone"), "sklearn.base.clone"),
        (_set_root("quantile_forest", "X", "QuantileForestNode"), "quantile_forest.X (QuantileForestNode)"),
        (lambda schema: schema.update(protocol=1), "skops protocol 1"),
    ],
)
def test_hand_made_files_are_refused(
    edit: Callable[[dict[str, Any]], None], refused: str, tmp_path: Path
) -> None:
    path = _rewritten(_dumped(tmp_path / "lr.skops", LinearRegression().fit(XD, YD)), edit)
    assert any(name.startswith(refused) for name in disallowed_types(_schema(path)))
    with pytest.raises(Forbidden, match="pass --trust"):
        load("sklearn", path)


def test_a_generator_naming_a_function_as_its_bit_generator_is_refused(tmp_path: Path) -> None:
    path = _dumped(tmp_path / "hgb.skops", COMMON["hist-gradient-boosting"]())

    def edit(schema: dict[str, Any]) -> None:
        for node in _all_nodes(schema):
            if node.get("__loader__") == "RandomGeneratorNode":
                node["content"]["bit_generator"]["content"]["bit_generator"]["content"] = json.dumps("seed")

    assert disallowed_types(_schema(_rewritten(path, edit))) == ["numpy.random.seed"]


def test_names_outside_sklearn_are_never_imported(tmp_path: Path) -> None:
    assert "this" not in sys.modules  # importing it prints the Zen of Python
    path = _rewritten(_dumped(tmp_path / "lr.skops", LinearRegression()), _set_root("this", "Thing"))
    assert disallowed_types(_schema(path)) == ["this.Thing"]
    assert "this" not in sys.modules


def test_a_node_anywhere_in_the_schema_is_checked(tmp_path: Path) -> None:
    path = _dumped(tmp_path / "lr.skops", LinearRegression())

    def edit(schema: dict[str, Any]) -> None:
        schema["unused"] = {
            "deep": [{"__loader__": "FunctionNode", "__module__": "os", "__class__": "system"}]
        }

    assert disallowed_types(_schema(_rewritten(path, edit))) == ["os.system"]


def test_every_reviewed_ufunc_is_a_numpy_ufunc() -> None:
    import importlib

    for name in MATH_UFUNCS:
        module, _, attribute = name.rpartition(".")
        assert isinstance(getattr(importlib.import_module(module), attribute), np.ufunc), name


def _all_nodes(value: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(value, dict):
        found.extend([value] if "__loader__" in value else [])
        for item in value.values():
            found.extend(_all_nodes(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(_all_nodes(item))
    return found
