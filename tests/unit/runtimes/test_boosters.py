from __future__ import annotations

from pathlib import Path
from typing import Any

import lightgbm
import numpy as np
import pytest
import xgboost

from modelport.core import Datatype, InvalidInput, Signature, TensorSpec
from tests.unit.runtimes.conftest import load


@pytest.mark.parametrize("rows", [1, 11])
def test_xgboost_predicts_like_xgboost(
    xgb_path: Path, xgb_classifier: xgboost.XGBClassifier, iris: tuple[np.ndarray, np.ndarray], rows: int
) -> None:
    model = load("xgboost", xgb_path)
    features = iris[0][:rows]
    outputs = model.predict({"input": features})
    assert outputs["probabilities"].dtype == np.float64 and outputs["probabilities"].shape == (rows, 3)
    np.testing.assert_allclose(outputs["probabilities"], xgb_classifier.predict_proba(features), rtol=1e-6)
    np.testing.assert_array_equal(outputs["label"], xgb_classifier.predict(features))


def test_xgboost_signature(xgb_path: Path) -> None:
    assert load("xgboost", xgb_path).signature == Signature(
        inputs=(TensorSpec("input", Datatype.FP32, (-1, 4)),),
        outputs=(
            TensorSpec("label", Datatype.INT64, (-1,)),
            TensorSpec("probabilities", Datatype.FP64, (-1, 3), labels=(0, 1, 2)),
        ),
    )


def test_xgboost_regressor_ubj(regressor_data: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    booster = xgboost.XGBRegressor(n_estimators=3, n_jobs=1).fit(*regressor_data).get_booster()
    path = tmp_path / "model.ubj"
    booster.save_model(path)
    model = load("xgboost", path, threads=2)
    assert model.signature.outputs == (TensorSpec("prediction", Datatype.FP32, (-1,)),)
    features = regressor_data[0][:4]
    np.testing.assert_allclose(
        model.predict({"input": features})["prediction"], booster.inplace_predict(features)
    )


@pytest.mark.parametrize("rows", [1, 11])
def test_lightgbm_predicts_like_lightgbm(
    lgb_path: Path, lgb_classifier: lightgbm.LGBMClassifier, iris: tuple[np.ndarray, np.ndarray], rows: int
) -> None:
    model = load("lightgbm", lgb_path)
    features = iris[0][-rows:]
    outputs = model.predict({"input": features})
    assert outputs["probabilities"].dtype == np.float64 and outputs["probabilities"].shape == (rows, 3)
    np.testing.assert_allclose(outputs["probabilities"], lgb_classifier.predict_proba(features))
    np.testing.assert_array_equal(outputs["label"], lgb_classifier.predict(features))


def test_lightgbm_signature(lgb_path: Path) -> None:
    assert load("lightgbm", lgb_path).signature == Signature(
        inputs=(TensorSpec("input", Datatype.FP64, (-1, 4)),),
        outputs=(
            TensorSpec("label", Datatype.INT64, (-1,)),
            TensorSpec("probabilities", Datatype.FP64, (-1, 3), labels=(0, 1, 2)),
        ),
    )


def test_lightgbm_regressor_with_given_signature(
    regressor_data: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    regressor = lightgbm.LGBMRegressor(n_estimators=3, min_child_samples=2, verbose=-1, n_jobs=1)
    regressor.fit(*regressor_data)
    path = tmp_path / "model.lgb"
    regressor.booster_.save_model(path)
    given = Signature((TensorSpec("x", Datatype.FP32, (-1, 3)),), (TensorSpec("y", Datatype.FP64, (-1,)),))
    model = load("lightgbm", path, signature=given)
    features = regressor_data[0][:5].astype(np.float32)
    np.testing.assert_allclose(model.predict({"x": features})["y"], regressor.predict(features))


@pytest.mark.parametrize(("framework", "fixture"), [("xgboost", "xgb_path"), ("lightgbm", "lgb_path")])
def test_wrong_feature_count_is_invalid_input(
    framework: str, fixture: str, request: pytest.FixtureRequest
) -> None:
    model = load(framework, request.getfixturevalue(fixture))
    with pytest.raises(InvalidInput, match=r"input 'input' must have shape \[-1, 4\] .*got \[1, 5\]"):
        model.predict({"input": np.zeros((1, 5))})
    with pytest.raises(InvalidInput, match="missing input 'input'"):
        model.predict({"other": np.zeros((1, 4))})


@pytest.mark.parametrize(
    ("framework", "name"), [("xgboost", "bad.json"), ("xgboost", "bad.ubj"), ("lightgbm", "bad.txt")]
)
def test_corrupt_file_is_invalid_input(framework: str, name: str, tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_bytes(b"{ definitely not a model")
    with pytest.raises(InvalidInput, match=rf"^{name} is not a valid {framework} model: ") as caught:
        load(framework, path)
    assert str(tmp_path) not in caught.value.message and "\n" not in caught.value.message
    assert ".cc:" not in caught.value.message  # no build paths from native code


@pytest.fixture(scope="module")
def regressor_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    features = rng.normal(size=(40, 3))
    return features, features @ [1.0, 2.0, -1.0]


@pytest.mark.parametrize(("framework", "datatype"), [("xgboost", Datatype.FP32), ("lightgbm", Datatype.FP64)])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_a_classifier_registered_before_labels_keeps_its_probability_output(
    framework: str, datatype: Datatype, n_classes: int, iris: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    """A version stored with the one raw ``prediction`` output boosters had still loads and answers it:
    the probabilities, not labels cast to floats."""
    features, target = iris[0], np.minimum(iris[1], n_classes - 1)
    if framework == "xgboost":
        fitted: Any = xgboost.XGBClassifier(n_estimators=3, max_depth=2, n_jobs=1).fit(features, target)
        path = tmp_path / "model.json"
        fitted.save_model(path)
    else:
        fitted = lightgbm.LGBMClassifier(n_estimators=3, num_leaves=4, verbose=-1, n_jobs=1).fit(
            features, target
        )
        path = tmp_path / "model.txt"
        fitted.booster_.save_model(path)
    shape = (-1,) if n_classes == 2 else (-1, n_classes)
    stored = Signature(
        (TensorSpec("input", datatype, (-1, 4)),), (TensorSpec("prediction", datatype, shape),)
    )
    model = load(framework, path, signature=stored)
    assert model.signature == stored
    expected = fitted.predict_proba(features[::30])
    answered = model.predict({"input": features[::30]})["prediction"]
    np.testing.assert_allclose(answered, expected[:, 1] if n_classes == 2 else expected, rtol=1e-6)
