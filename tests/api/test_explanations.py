"""``modelport.explain`` and ``batch_predict(..., explain=True)``: each row's attributions plus the
base value add up to what the model answers, computed here by the framework itself (XGBoost's
``output_margin``, scikit-learn's ``predict_proba``); the sampling fallback adds up to f(x) less the
background's mean answer and gives a feature the model ignores 0. (tests/unit/explanations checks
each tree method on each kind of model; docs/explanations.md's example, a trusted forest.)"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import xgboost
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression

import modelport
from modelport.core import InvalidInput

X, Y = load_iris(return_X_y=True, as_frame=True)
X.columns = ["sl", "sw", "pl", "pw"]
ROWS = X.iloc[[0, 1, 55, 70, 101, 140]]


def _sums(frame: pd.DataFrame, output: str | None) -> np.ndarray:
    """Each row's attributions plus its base value, for one explained output."""
    prefix = "explain." if output is None else f"explain.{output}."
    columns = [f"{prefix}{name}" for name in [*X.columns, "base"]]
    return np.asarray(frame[columns].sum(axis=1))


BOOSTER = xgboost.XGBClassifier(n_estimators=8, max_depth=3).fit(X, Y)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home where ``xgb`` is ``BOOSTER``."""
    home = tmp_path_factory.mktemp("home")
    modelport.register(BOOSTER, "xgb", sample_input=X[:3], trusted=True, home=home)
    return home


def test_xgboost_contributions_add_up_to_the_raw_score(home: Path) -> None:
    frame = modelport.explain("xgb", ROWS, home=home)
    assert isinstance(frame, pd.DataFrame) and list(frame.index) == list(ROWS.index)
    margins = BOOSTER.get_booster().predict(xgboost.DMatrix(ROWS), output_margin=True)
    for k in range(3):
        assert np.allclose(_sums(frame, str(k)), margins[:, k], atol=1e-5)


def test_the_sampling_fallback_adds_up_and_gives_an_ignored_feature_nothing(tmp_path: Path) -> None:
    from skl2onnx import to_onnx

    x = X.to_numpy(np.float32)
    linear = LinearRegression().fit(x, Y)
    linear.coef_[1] = 0.0  # the model ignores sw
    onnx_model = to_onnx(linear, x[:1], target_opset=17)
    modelport.register(onnx_model.SerializeToString(), "linear", home=tmp_path)
    names = ["sl", "sw", "pl", "pw"]
    table = pa.Table.from_pandas(ROWS, preserve_index=False)
    refusal = r"^linear:1 cannot be explained: onnx models are explained by sampling against .* it has none"
    with pytest.raises(InvalidInput, match=refusal):
        modelport.explain("linear", table, features=names, home=tmp_path)
    output = tmp_path / "out"
    with pytest.raises(InvalidInput, match=refusal):
        modelport.batch_predict("linear", _csv(tmp_path), output, explain=True, features=names, home=tmp_path)
    assert not output.exists()  # refused before anything was written
    reference = x[::6]  # 25 rows: fewer than the background's bound, so all of them are the sample
    modelport.register(onnx_model.SerializeToString(), "linear", reference_data=reference, home=tmp_path)
    answer = modelport.explain("linear:2", table, features=names, home=tmp_path)
    assert answer.column_names[-5:] == [*(f"explain.{n}" for n in names), "explain.base"]
    values = np.column_stack([answer.column(f"explain.{n}").to_numpy() for n in names])
    base = answer.column("explain.base").to_numpy()
    predicted = linear.predict(ROWS.to_numpy(np.float32))
    assert np.allclose(base, linear.predict(reference).mean(), atol=1e-4)
    assert np.allclose(values.sum(axis=1) + base, predicted, atol=1e-4)
    assert np.all(values[:, 1] == 0.0)
    array = modelport.explain("linear", ROWS.to_numpy(np.float32), home=tmp_path)
    assert array.dtype.names == ("variable", *(f"explain.X[{i}]" for i in range(4)), "explain.base")
    assert np.allclose(array["explain.X[2]"], values[:, 2])
    # a linear model's Shapley values are known: coefficient x (value - background mean)
    expected = linear.coef_ * (ROWS.to_numpy(np.float32) - reference.mean(axis=0))
    assert np.allclose(values, expected, atol=1e-4)


def test_an_untrusted_tree_model_is_explained_by_sampling_through_its_child(tmp_path: Path) -> None:
    forest = RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0).fit(X, Y)
    modelport.register(forest, "plain", sample_input=X[:2], reference_data=X[::10], home=tmp_path)
    frame = modelport.explain("plain", ROWS, home=tmp_path)
    for k in range(3):
        background = forest.predict_proba(X[::10]).mean(axis=0)[k]
        assert np.allclose(frame[f"explain.{k}.base"], background)
        assert np.allclose(_sums(frame, str(k)), forest.predict_proba(ROWS)[:, k])


def test_a_trusted_model_that_is_no_tree_needs_reference_data(home: Path, tmp_path: Path) -> None:
    modelport.register(LinearRegression().fit(X, Y), "line", sample_input=X[:2], trusted=True, home=home)
    with pytest.raises(
        InvalidInput, match=r"^line:1 cannot be explained: a LinearRegression is no tree model"
    ):
        modelport.explain("line", ROWS, home=home)
    output = tmp_path / "out"
    with pytest.raises(InvalidInput, match="a LinearRegression is no tree model"):
        modelport.batch_predict("line", _csv(tmp_path), output, explain=True, home=home)
    manifest = json.loads((output / "_manifest.json").read_text())
    assert manifest["state"] == "failed" and manifest["rows_in"] == 0  # before its first row


def test_batch_predict_writes_attribution_columns_and_a_resume_keeps_them(home: Path, tmp_path: Path) -> None:
    rows = _csv(tmp_path, bad_row=120)
    output = tmp_path / "scores.csv"
    with pytest.raises(InvalidInput, match=r"^row 120: column 'sl'"):  # fails in the third chunk
        modelport.batch_predict("xgb", rows, output, explain=True, chunk_rows=50, home=home)
    summary = modelport.batch_predict("xgb", rows, output, resume=True, max_errors=1, home=home)
    assert summary["rows_scored"] == 149 and summary["parts"] == 3
    parts = [pd.read_csv(part) for part in sorted(output.glob("part-*"))]
    assert all(list(part.columns) == list(parts[0].columns) for part in parts)  # the resumed part too
    scores = pd.concat(parts)
    assert list(scores.columns[:2]) == ["row", "label"]  # then probabilities, then the attributions
    assert [c for c in scores.columns if c.startswith("explain.2.")] == [
        *(f"explain.2.{n}" for n in X.columns),
        "explain.2.base",
    ]
    margins = BOOSTER.get_booster().predict(xgboost.DMatrix(X.drop(index=120)), output_margin=True)
    assert np.allclose(scores.filter(like="explain.2.").sum(axis=1), margins[:, 2], atol=1e-4)
    with pytest.raises(InvalidInput, match="leave out --explain"):
        modelport.batch_predict("xgb", rows, output, resume=True, explain=True, home=home)
    with pytest.raises(InvalidInput, match=r"^--explain runs on the local engine"):
        modelport.batch_predict("xgb", rows, tmp_path / "ray", explain=True, engine="ray", home=home)
    assert not (tmp_path / "ray").exists()


def _csv(directory: Path, bad_row: int | None = None) -> Path:
    path = directory / "rows.csv"
    rows = X.astype(object)
    if bad_row is not None:
        rows.loc[bad_row, "sl"] = "oops"
    rows.to_csv(path, index=False)
    return path
