"""Tabular models as they are really trained (issue 10, points 11 and 12): on a pandas DataFrame of
named numeric, text and categorical columns, and classifiers that all answer ``label`` and
``probabilities`` with their class labels in the signature."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import lightgbm
import numpy as np
import pandas as pd
import pytest
import xgboost
from sklearn.pipeline import Pipeline

from modelport.core import Datatype, InvalidInput, Signature, TensorSpec
from modelport.runtimes.base import LoadedModel, LoadOptions
from modelport.runtimes.isolation import IsolatedModel
from modelport.runtimes.probe import probe_artifact
from tests import models
from tests.unit.runtimes.conftest import load

CLASSES = models.CUSTOMER_TIERS


@pytest.fixture(scope="module")
def frame() -> tuple[pd.DataFrame, np.ndarray]:
    return models.customers_frame()  # type: ignore[return-value]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Pipeline]:
    return models.customers_pipeline(tmp_path_factory.mktemp("frames"))  # type: ignore[return-value]


@pytest.fixture(scope="module")
def pipeline(fitted: tuple[Path, Pipeline]) -> Pipeline:
    return fitted[1]


@pytest.fixture(scope="module")
def pipeline_path(fitted: tuple[Path, Pipeline]) -> Path:
    return fitted[0]


def categorical(table: pd.DataFrame) -> pd.DataFrame:
    return table.assign(city=table["city"].astype("category"))


def columns(table: pd.DataFrame) -> dict[str, np.ndarray]:
    """A DataFrame as the protocol carries it: one input per column, BYTES for text."""
    inputs = {name: table[name].to_numpy() for name in ("age", "visits")}
    inputs["city"] = np.array([value.encode() for value in table["city"].astype(str)], dtype=object)
    return inputs


@pytest.fixture
def no_warnings() -> Iterator[None]:
    """A model trained on a DataFrame must not warn about feature names at predict."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def test_a_column_transformer_pipeline_takes_one_input_per_column(
    pipeline_path: Path, pipeline: Pipeline, frame: tuple[pd.DataFrame, np.ndarray], no_warnings: None
) -> None:
    model = load("sklearn", pipeline_path)
    assert model.signature == Signature(
        inputs=(
            TensorSpec("age", Datatype.FP64, (-1,)),
            TensorSpec("visits", Datatype.FP64, (-1,)),
            TensorSpec("city", Datatype.BYTES, (-1,)),
        ),
        outputs=(
            TensorSpec("label", Datatype.BYTES, (-1,)),
            TensorSpec("probabilities", Datatype.FP64, (-1, 3), labels=CLASSES),
        ),
    )
    rows = frame[0].head(9)
    outputs = model.predict(columns(rows))
    assert outputs["label"].tolist() == [label.encode() for label in pipeline.predict(rows)]
    np.testing.assert_allclose(outputs["probabilities"], pipeline.predict_proba(rows))


def test_the_isolated_child_builds_the_same_data_frame(
    pipeline_path: Path, frame: tuple[pd.DataFrame, np.ndarray]
) -> None:
    """Untrusted, the model runs in the confined child: text columns cross as BYTES, pandas loads there."""
    local = load("sklearn", pipeline_path)
    isolated = IsolatedModel(pipeline_path, "sklearn", LoadOptions(), call_timeout_s=60.0, max_bytes=1 << 26)
    try:
        assert isolated.signature == local.signature
        rows = columns(frame[0].tail(5))
        answered, expected = isolated.predict(rows), local.predict(rows)
        assert answered["label"].tolist() == expected["label"].tolist()
        np.testing.assert_array_equal(answered["probabilities"], expected["probabilities"])
    finally:
        isolated.close()


def test_registration_takes_datatypes_from_a_data_frame_sample(
    pipeline_path: Path, frame: tuple[pd.DataFrame, np.ndarray]
) -> None:
    from modelport.api import _sample

    sample = _sample(frame[0].head(3), None)
    signature = probe_artifact(
        pipeline_path, "sklearn", trusted=False, signature=None, sample_input=sample, timeout_s=60.0
    )
    assert [(s.name, s.datatype) for s in signature.inputs] == [
        ("age", Datatype.FP64),
        ("visits", Datatype.INT64),  # the scaler alone cannot tell; the sample can
        ("city", Datatype.BYTES),
    ]


def boosters(table: pd.DataFrame, target: np.ndarray, directory: Path) -> dict[str, tuple[Path, object]]:
    """An XGBoost and a LightGBM classifier fitted on ``table`` with a pandas categorical column."""
    xgb = xgboost.XGBClassifier(n_estimators=5, max_depth=3, enable_categorical=True, n_jobs=1)
    xgb.fit(table, target)
    lgb = lightgbm.LGBMClassifier(n_estimators=5, num_leaves=4, min_child_samples=3, verbose=-1, n_jobs=1)
    lgb.fit(table, target)
    xgb.save_model(directory / "model.json")
    lgb.booster_.save_model(directory / "model.txt")
    return {"xgboost": (directory / "model.json", xgb), "lightgbm": (directory / "model.txt", lgb)}


@pytest.fixture(scope="module")
def three_classes(
    frame: tuple[pd.DataFrame, np.ndarray], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[Path, object]]:
    codes = np.searchsorted(CLASSES, frame[1])
    return boosters(categorical(frame[0]), codes, tmp_path_factory.mktemp("three"))


@pytest.mark.parametrize(("framework", "number"), [("xgboost", Datatype.FP32), ("lightgbm", Datatype.FP64)])
def test_boosters_on_a_data_frame_with_a_categorical_column(
    framework: str,
    number: Datatype,
    three_classes: dict[str, tuple[Path, object]],
    frame: tuple[pd.DataFrame, np.ndarray],
    no_warnings: None,
) -> None:
    path, fitted = three_classes[framework]
    model = load(framework, path)
    integer = Datatype.INT64 if framework == "xgboost" else Datatype.FP64  # XGBoost keeps the int type
    assert model.signature.inputs == (
        TensorSpec("age", number, (-1,)),
        TensorSpec("visits", integer, (-1,)),
        TensorSpec("city", Datatype.BYTES, (-1,)),
    )
    assert model.signature.outputs == (
        TensorSpec("label", Datatype.INT64, (-1,)),
        TensorSpec("probabilities", Datatype.FP64, (-1, 3), labels=(0, 1, 2)),
    )
    rows = categorical(frame[0]).iloc[[3, 1, 4, 1, 5, 9, 2, 6]]
    inputs = columns(rows)
    inputs["age"] = inputs["age"].astype(number.numpy_dtype)
    inputs["visits"] = inputs["visits"].astype(integer.numpy_dtype)
    outputs = model.predict(inputs)
    np.testing.assert_allclose(outputs["probabilities"], fitted.predict_proba(rows), rtol=1e-6)  # type: ignore[attr-defined]
    np.testing.assert_array_equal(outputs["label"], fitted.predict(rows))  # type: ignore[attr-defined]


@pytest.mark.parametrize("framework", ["xgboost", "lightgbm"])
def test_a_category_alone_in_a_request_keeps_its_fit_time_code(
    framework: str, three_classes: dict[str, tuple[Path, object]], frame: tuple[pd.DataFrame, np.ndarray]
) -> None:
    """One row of ``rome`` must not become category 0, as a DataFrame built from that row alone would."""
    path, fitted = three_classes[framework]
    model = load(framework, path)
    rome = categorical(frame[0])[frame[0]["city"] == "rome"].head(1)
    inputs = {
        spec.name: columns(rome)[spec.name].astype(spec.datatype.numpy_dtype)
        for spec in model.signature.inputs
    }
    np.testing.assert_allclose(
        model.predict(inputs)["probabilities"],
        fitted.predict_proba(rome),
        rtol=1e-6,  # type: ignore[attr-defined]
    )


@pytest.mark.parametrize("framework", ["xgboost", "lightgbm"])
def test_a_binary_booster_gives_a_label_and_both_probabilities(
    framework: str, frame: tuple[pd.DataFrame, np.ndarray], tmp_path: Path
) -> None:
    table = categorical(frame[0])
    path, fitted = boosters(table, (frame[1] == "gold").astype(int), tmp_path)[framework]
    model = load(framework, path)
    assert [spec.name for spec in model.signature.outputs] == ["label", "probabilities"]
    assert model.signature.outputs[1].labels == (0, 1)
    inputs = {
        spec.name: columns(table)[spec.name].astype(spec.datatype.numpy_dtype)
        for spec in model.signature.inputs
    }
    outputs = model.predict(inputs)
    np.testing.assert_allclose(outputs["probabilities"], fitted.predict_proba(table), rtol=1e-6)  # type: ignore[attr-defined]
    np.testing.assert_array_equal(outputs["label"], fitted.predict(table))  # type: ignore[attr-defined]


def named_classes(model: LoadedModel) -> Signature:
    return Signature(
        model.signature.inputs,
        (TensorSpec("tier", Datatype.BYTES, (-1,)), TensorSpec("p", Datatype.FP64, (-1, 3), labels=CLASSES)),
    )


@pytest.mark.parametrize("framework", ["xgboost", "lightgbm"])
def test_a_registered_signature_names_a_booster_s_classes(
    framework: str, three_classes: dict[str, tuple[Path, object]], frame: tuple[pd.DataFrame, np.ndarray]
) -> None:
    path, fitted = three_classes[framework]
    model = load(framework, path, signature=named_classes(load(framework, path)))
    rows = categorical(frame[0]).head(6)
    inputs = {
        spec.name: columns(rows)[spec.name].astype(spec.datatype.numpy_dtype)
        for spec in model.signature.inputs
    }
    expected = [CLASSES[code].encode() for code in fitted.predict(rows)]  # type: ignore[attr-defined]
    assert model.predict(inputs)["tier"].tolist() == expected
    wrong = Signature(
        model.signature.inputs,
        (
            TensorSpec("tier", Datatype.BYTES, (-1,)),
            TensorSpec("p", Datatype.FP64, (-1, 3), labels=("a", "b")),
        ),
    )
    with pytest.raises(InvalidInput, match="names 2 class labels; this model has 3 classes"):
        load(framework, path, signature=wrong)


def test_drift_features_and_reference_data_are_named_by_column(
    pipeline_path: Path, frame: tuple[pd.DataFrame, np.ndarray]
) -> None:
    from modelport.monitoring.drift.features import feature_names
    from modelport.monitoring.drift.reference import reference_table

    signature = load("sklearn", pipeline_path).signature
    assert [name for spec in signature.inputs for name in feature_names(spec, 1)] == ["age", "visits", "city"]
    assert reference_table(frame[0], signature).column_names == ["age", "visits", "city"]


def test_a_scikit_learn_model_s_class_labels_are_its_own(pipeline_path: Path) -> None:
    """Its label output comes from ``classes_``, so a signature may not name other classes."""
    model = load("sklearn", pipeline_path)
    label, probabilities = model.signature.outputs
    renamed = Signature(model.signature.inputs, (label, replace(probabilities, labels=("a", "b", "c"))))
    with pytest.raises(InvalidInput, match="class labels differ from the model's own"):
        load("sklearn", pipeline_path, signature=renamed)
    kept = Signature(model.signature.inputs, (label, replace(probabilities, labels=())))
    assert load("sklearn", pipeline_path, signature=kept).signature.outputs[1].labels == CLASSES


@pytest.mark.parametrize("framework", ["xgboost", "lightgbm"])
def test_a_category_not_seen_at_fit_time_is_missing(
    framework: str, three_classes: dict[str, tuple[Path, object]], frame: tuple[pd.DataFrame, np.ndarray]
) -> None:
    path, fitted = three_classes[framework]
    model = load(framework, path)
    rows = categorical(frame[0]).head(3)
    inputs = {
        spec.name: columns(rows)[spec.name].astype(spec.datatype.numpy_dtype)
        for spec in model.signature.inputs
    }
    inputs["city"] = np.array([b"madrid"] * 3, dtype=object)
    missing = rows.assign(city=pd.Categorical([None] * 3, categories=rows["city"].cat.categories))
    np.testing.assert_allclose(
        model.predict(inputs)["probabilities"],
        fitted.predict_proba(missing),  # type: ignore[attr-defined]
        rtol=1e-6,
    )


def test_an_xgboost_categorical_column_without_kept_categories_takes_its_code(tmp_path: Path) -> None:
    """A booster trained on category codes (or written before XGBoost kept categories)."""
    rng = np.random.default_rng(0)
    codes = np.column_stack([rng.normal(size=80), rng.integers(0, 3, 80)]).astype(np.float32)
    train = xgboost.DMatrix(
        codes,
        label=codes[:, 1] == 2,
        feature_names=["age", "city"],
        feature_types=["float", "c"],
        enable_categorical=True,
    )
    booster = xgboost.train({"objective": "binary:logistic", "max_depth": 2}, train, 3)
    booster.save_model(tmp_path / "codes.json")
    model = load("xgboost", tmp_path / "codes.json")
    assert model.signature.inputs[1] == TensorSpec("city", Datatype.INT64, (-1,))
    answered = model.predict({"age": codes[:6, 0], "city": codes[:6, 1].astype(np.int64)})["probabilities"]
    expected = booster.predict(
        xgboost.DMatrix(
            codes[:6], feature_names=["age", "city"], feature_types=["float", "c"], enable_categorical=True
        )
    )
    np.testing.assert_allclose(answered[:, 1], expected, rtol=1e-6)


@pytest.mark.parametrize(("framework", "datatype"), [("xgboost", Datatype.FP32), ("lightgbm", Datatype.FP64)])
def test_a_version_registered_with_one_matrix_input_keeps_it(
    framework: str,
    datatype: Datatype,
    frame: tuple[pd.DataFrame, np.ndarray],
    tmp_path: Path,
    no_warnings: None,
) -> None:
    """A model fitted on a numeric DataFrame was registered with one matrix input before such models
    took columns; its stored signature still loads and answers, without a feature-name warning."""
    numeric = frame[0][["age", "visits"]].astype(np.float64)
    path, fitted = boosters(numeric, (frame[1] == "gold").astype(int), tmp_path)[framework]
    matrix = Signature(
        (TensorSpec("input", datatype, (-1, 2)),),
        (TensorSpec("label", Datatype.INT64, (-1,)), TensorSpec("probabilities", Datatype.FP64, (-1, 2))),
    )
    model = load(framework, path, signature=matrix)
    answered = model.predict({"input": numeric.to_numpy(datatype.numpy_dtype)})["probabilities"]
    np.testing.assert_allclose(answered, fitted.predict_proba(numeric), rtol=1e-6)  # type: ignore[attr-defined]


def test_a_scikit_learn_version_registered_with_one_matrix_input_keeps_it(
    frame: tuple[pd.DataFrame, np.ndarray], tmp_path: Path, no_warnings: None
) -> None:
    import skops.io
    from sklearn.linear_model import LogisticRegression

    numeric = frame[0][["age", "visits"]].astype(np.float64)
    fitted = LogisticRegression().fit(numeric, frame[1])
    skops.io.dump(fitted, tmp_path / "numeric.skops")
    matrix = Signature(
        (TensorSpec("input", Datatype.FP64, (-1, 2)),), (TensorSpec("label", Datatype.BYTES, (-1,)),)
    )
    model = load("sklearn", tmp_path / "numeric.skops", signature=matrix)
    assert model.predict({"input": numeric.to_numpy()})["label"].tolist() == [
        label.encode() for label in fitted.predict(numeric)
    ]
