"""``modelport.register`` with fitted objects of every supported framework."""

from __future__ import annotations

from pathlib import Path

import lightgbm
import numpy as np
import pyarrow as pa
import pytest
import xgboost
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import modelport
from modelport.core import Conflict, Forbidden, InvalidInput
from modelport.core.settings import Settings
from modelport.registry.local import open_registry

X, Y = load_iris(return_X_y=True)


def test_registers_a_sklearn_estimator_with_skops_and_numbers_versions(tmp_path: Path) -> None:
    estimator = LogisticRegression(max_iter=500).fit(X, Y)
    first = modelport.register(estimator, "iris", sample_input=X[:3], alias="production", home=tmp_path)
    second = modelport.register(estimator, "iris", tags={"team": "a"}, lineage={"run_id": "7"}, home=tmp_path)
    assert (first.number, second.number) == (1, 2)
    assert first.framework == "sklearn" and first.filename.endswith(".skops")
    assert first.aliases == ("production",)
    assert dict(second.tags) == {"team": "a"} and dict(second.lineage) == {"run_id": "7"}
    assert [s.name for s in first.signature.outputs] == ["label", "probabilities"]


def test_registers_boosters_and_onnx_protos(tmp_path: Path) -> None:
    from skl2onnx import to_onnx

    x32 = X.astype(np.float32)
    proto = to_onnx(LogisticRegression(max_iter=500).fit(x32, Y), x32[:1], target_opset=17)
    assert modelport.register(proto, "onnx", home=tmp_path).framework == "onnx"
    assert modelport.register(proto.SerializeToString(), "onnx", home=tmp_path).number == 2
    booster = xgboost.XGBRegressor(n_estimators=3).fit(X, Y)
    assert modelport.register(booster, "xgb", home=tmp_path).framework == "xgboost"
    assert modelport.register(booster.get_booster(), "xgb", home=tmp_path).number == 2
    lgbm = lightgbm.LGBMRegressor(n_estimators=3, verbose=-1).fit(X, Y)
    assert modelport.register(lgbm, "lgb", home=tmp_path).framework == "lightgbm"
    assert modelport.register(lgbm.booster_, "lgb", home=tmp_path).number == 2


def test_reference_data_is_kept(tmp_path: Path) -> None:
    estimator = LogisticRegression(max_iter=500).fit(X, Y)
    version = modelport.register(estimator, "iris", reference_data=X[:50], home=tmp_path)
    registry = open_registry(Settings(home=tmp_path))
    try:
        stored = registry.reference_data("iris", version.number)
    finally:
        registry.close()
    assert isinstance(stored, pa.Table)
    assert stored.num_columns == 4 and stored.column_names[0].endswith("[0]")
    np.testing.assert_array_equal(np.column_stack(list(stored.to_pydict().values())), X[:50])


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        (pa.table({"a": X[:5, 0], "b": X[:5, 1]}), "4 feature.* 2 column"),
        (X[:5, :3], "4 feature.* has 3"),
        ({"petals": X[:5]}, r"unknown inputs \['petals'\]"),
    ],
)
def test_a_reference_that_does_not_fit_registers_nothing(
    tmp_path: Path, model_files: dict[str, Path], reference: object, message: str
) -> None:
    """(An ONNX file: its test-load is quicker than a scikit-learn estimator's; the check is the same.)"""
    with pytest.raises(InvalidInput, match=message):
        modelport.register(model_files["iris"], "iris", reference_data=reference, home=tmp_path)
    registry = open_registry(Settings(home=tmp_path))
    try:
        assert registry.list_models() == []
    finally:
        registry.close()
    assert [p for p in (tmp_path / "artifacts").rglob("*") if p.is_file()] == []


def test_a_sample_input_the_model_rejects_stores_nothing(tmp_path: Path) -> None:
    estimator = LogisticRegression(max_iter=500).fit(X, Y)
    with pytest.raises(InvalidInput):
        modelport.register(estimator, "iris", sample_input=np.zeros((2, 7)), home=tmp_path)
    registry = open_registry(Settings(home=tmp_path))
    try:
        assert registry.list_models() == []
    finally:
        registry.close()


def test_a_pickle_needs_trust(tmp_path: Path) -> None:
    import joblib

    path = tmp_path / "model.joblib"
    joblib.dump(LogisticRegression(max_iter=500).fit(X, Y), path)
    with pytest.raises(Forbidden, match="trust"):
        modelport.register(path, "pickled", home=tmp_path)
    assert modelport.register(path, "pickled", trusted=True, home=tmp_path).trusted


def test_a_registration_alias_goes_through_the_endpoints_policies(
    tmp_path: Path, model_files: dict[str, Path]
) -> None:
    """``register(alias=...)`` moves the alias as ``alias set`` does: an endpoint with a rollout policy
    gets a rollout, not the new version at once; while that rollout runs, a registration that would
    move the alias again is refused before anything is stored. (An ONNX file: quicker to test-load.)"""
    from modelport.control.endpoints import EndpointChanges
    from modelport.core.endpoints import EndpointConfig, RouteSpec
    from modelport.core.rollout import RolloutPolicy
    from modelport.core.targets import Target

    model = model_files["iris"]
    modelport.register(model, "iris", alias="production", home=tmp_path)
    with open_registry(Settings(home=tmp_path)) as registry:
        registry.create_endpoint("ep", EndpointConfig((RouteSpec(Target.parse("iris@production"), 1),)))
        EndpointChanges(registry, "test").set_policy("ep", RolloutPolicy())
    modelport.register(model, "iris", alias="production", home=tmp_path)
    with open_registry(Settings(home=tmp_path)) as registry:
        config = registry.get_endpoint("ep").config
        assert {str(r.target): r.weight for r in config.routes} == {"iris:1": 95, "iris:2": 5}
        assert config.rollout is not None and config.rollout.running
    with pytest.raises(Conflict, match="being rolled out on endpoint ep"):
        modelport.register(model, "iris", alias="production", home=tmp_path)
    with open_registry(Settings(home=tmp_path)) as registry:
        assert [v.number for v in registry.list_versions("iris")] == [1, 2]  # nothing stored
        assert registry.get_model("iris").aliases["production"] == 2
