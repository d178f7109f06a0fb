from __future__ import annotations

import pickle
from pathlib import Path

import joblib
import numpy as np
import pytest
import skops.io
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.tree import DecisionTreeClassifier

from modelport.core import Datatype, Forbidden, InvalidInput, Signature, TensorSpec
from tests.unit.runtimes.conftest import load


def double(features: np.ndarray) -> np.ndarray:
    """A custom function skops does not trust by default."""
    return features * 2


@pytest.mark.parametrize("rows", [1, 9])
def test_classifier_predicts_like_scikit_learn(
    skops_classifier: Path, classifier: LogisticRegression, iris: tuple[np.ndarray, np.ndarray], rows: int
) -> None:
    model = load("sklearn", skops_classifier)
    features = iris[0][-rows:]
    outputs = model.predict({"input": features})
    assert outputs["label"].dtype == np.int64 and outputs["label"].shape == (rows,)
    np.testing.assert_array_equal(outputs["label"], classifier.predict(features))
    np.testing.assert_allclose(outputs["probabilities"], classifier.predict_proba(features))


def test_classifier_signature(skops_classifier: Path) -> None:
    assert load("sklearn", skops_classifier).signature == Signature(
        inputs=(TensorSpec("input", Datatype.FP64, (-1, 4)),),
        outputs=(
            TensorSpec("label", Datatype.INT64, (-1,)),
            TensorSpec("probabilities", Datatype.FP64, (-1, 3), labels=(0, 1, 2)),
        ),
    )


def test_string_classes_are_bytes_labels(iris: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    names = np.array(["setosa", "versicolor", "virginica"])[iris[1]]
    path = tmp_path / "strings.skops"
    tree = DecisionTreeClassifier(max_depth=3, random_state=0).fit(iris[0], names)
    skops.io.dump(tree, path)
    model = load("sklearn", path)
    assert model.signature.outputs[0] == TensorSpec("label", Datatype.BYTES, (-1,))
    features = iris[0][[0, 60, 149]]
    labels = model.predict({"input": features})["label"]
    assert labels.dtype == object and labels.tolist() == [name.encode() for name in tree.predict(features)]
    assert labels[0] == b"setosa"


def test_regressor(regressor: LinearRegression, tmp_path: Path) -> None:
    path = tmp_path / "regressor.skops"
    skops.io.dump(regressor, path)
    model = load("sklearn", path)
    assert model.signature.outputs == (TensorSpec("prediction", Datatype.FP64, (-1,)),)
    features = np.array([[1.0, 2.0, 3.0]])
    np.testing.assert_allclose(model.predict({"input": features})["prediction"], regressor.predict(features))


def test_given_signature_renames_and_casts(skops_classifier: Path, classifier: LogisticRegression) -> None:
    given = Signature(
        inputs=(TensorSpec("features", Datatype.FP32, (-1, 4)),),
        outputs=(TensorSpec("species", Datatype.INT64, (-1,)),),
    )
    model = load("sklearn", skops_classifier, signature=given)
    features = np.ones((3, 4), dtype=np.float32)
    outputs = model.predict({"features": features})
    assert list(outputs) == ["species"]
    np.testing.assert_array_equal(outputs["species"], classifier.predict(features))


def test_wrong_feature_count_is_invalid_input(skops_classifier: Path) -> None:
    with pytest.raises(InvalidInput, match=r"input 'input' must have shape \[-1, 4\] .*got \[2, 3\]"):
        load("sklearn", skops_classifier).predict({"input": np.zeros((2, 3))})


def test_value_error_from_scikit_learn_is_invalid_input(skops_classifier: Path) -> None:
    with pytest.raises(InvalidInput, match=r"rejected the input: .*NaN"):
        load("sklearn", skops_classifier).predict({"input": np.full((1, 4), np.nan)})


def test_corrupt_file_is_invalid_input(tmp_path: Path) -> None:
    path = tmp_path / "broken.skops"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(InvalidInput, match=r"^broken.skops is not a valid sklearn model: "):
        load("sklearn", path)


def test_pickle_needs_trust(classifier: LogisticRegression, tmp_path: Path) -> None:
    for name in ("model.joblib", "model.pkl"):
        path = tmp_path / name
        joblib.dump(classifier, path) if name.endswith("joblib") else path.write_bytes(
            pickle.dumps(classifier)
        )
        with pytest.raises(Forbidden, match="runs code when loaded; pass --trust"):
            load("sklearn", path)
        prediction = load("sklearn", path, trusted=True).predict({"input": np.ones((1, 4))})["label"]
        np.testing.assert_array_equal(prediction, classifier.predict(np.ones((1, 4))))


def test_pickle_of_something_else_is_invalid_input(tmp_path: Path) -> None:
    path = tmp_path / "dict.pkl"
    path.write_bytes(pickle.dumps({"not": "a model"}))
    with pytest.raises(InvalidInput, match="does not hold a scikit-learn estimator"):
        load("sklearn", path, trusted=True)


def test_skops_with_an_untrusted_function_needs_trust(tmp_path: Path) -> None:
    pipeline = make_pipeline(FunctionTransformer(double), LinearRegression())
    pipeline.fit(np.eye(3), [1.0, 2.0, 3.0])
    path = tmp_path / "custom.skops"
    skops.io.dump(pipeline, path)
    with pytest.raises(Forbidden, match=r"test_sklearn\.double.*pass --trust"):
        load("sklearn", path)
    model = load("sklearn", path, trusted=True)
    np.testing.assert_allclose(model.predict({"input": np.eye(3)})["prediction"], pipeline.predict(np.eye(3)))
