"""``modelport.predict`` answers in kind (DataFrame, Table, ndarray) what the model itself answers;
``modelport.batch_predict`` runs a job and returns its summary."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import modelport
from modelport.core import InvalidInput

X, Y = load_iris(return_X_y=True, as_frame=True)
X.columns = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


@pytest.fixture(scope="module")
def fitted() -> LogisticRegression:
    return LogisticRegression(max_iter=500).fit(X, Y)


def test_predict_answers_a_data_frame_with_a_data_frame_on_its_index(
    fitted: LogisticRegression, tmp_path: Path
) -> None:
    modelport.register(fitted, "iris", sample_input=X[:3], trusted=True, home=tmp_path)
    rows = X.iloc[[0, 60, 120]].set_index(pd.Index(["a", "b", "c"]))
    answer = modelport.predict("iris", rows, home=tmp_path)
    assert isinstance(answer, pd.DataFrame) and list(answer.index) == ["a", "b", "c"]
    assert answer["label"].tolist() == fitted.predict(rows).tolist()
    assert np.allclose(np.stack(answer["probabilities"]), fitted.predict_proba(rows))
    table = modelport.predict("iris", pa.Table.from_pandas(rows, preserve_index=False), home=tmp_path)
    assert isinstance(table, pa.Table) and table.column("label").to_pylist() == answer["label"].tolist()


def test_predict_answers_an_array_with_a_structured_array_and_names_a_bad_row(
    model_files: dict[str, Path], tmp_path: Path
) -> None:
    modelport.register(model_files["iris"], "onnx-iris", home=tmp_path)
    rows = X.to_numpy()[[0, 60, 120]]
    answer = modelport.predict("onnx-iris", rows, home=tmp_path)
    assert isinstance(answer, np.ndarray) and answer.dtype.names == ("label", "probabilities")
    assert answer["label"].tolist() == [0, 1, 2] and answer["probabilities"].shape == (3, 3)
    rows[1, 2] = np.nan  # a float input takes NaN; an input column of text does not
    assert modelport.predict("onnx-iris", rows, home=tmp_path)["label"].shape == (3,)
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": [1.0, 2.0], "c": ["1", "x"], "d": [1.0, 2.0]})
    with pytest.raises(InvalidInput, match=r"^row 1: column 'c': 'x' is not FP32$"):
        modelport.predict("onnx-iris", frame, features=["a", "b", "c", "d"], home=tmp_path)


def test_batch_predict_returns_the_summary_and_refuses_unknown_options(
    model_files: dict[str, Path], tmp_path: Path
) -> None:
    modelport.register(model_files["iris"], "onnx-iris", home=tmp_path)
    pq.write_table(pa.table({f"X[{i}]": X.iloc[:, i] for i in range(4)}), tmp_path / "in.parquet")
    summary = modelport.batch_predict("onnx-iris", tmp_path / "in.parquet", tmp_path / "out", home=tmp_path)
    assert (summary["state"], summary["rows_scored"], summary["parts"]) == ("complete", 150, 1)
    with pytest.raises(InvalidInput, match="unexpected keyword argument 'chunk_size'"):
        modelport.batch_predict(
            "onnx-iris", tmp_path / "in.parquet", tmp_path / "o2", chunk_size=5, home=tmp_path
        )


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("in.csv", "a,b,c,d\n1,2,3,4\n1,2,3\n\n5,6,7,8\n1,2,3,4,5\n0.5,1,1.5,2\n"),
        (
            "in.jsonl",
            '{"a":1,"b":2,"c":3,"d":4}\n{"a":\n\n{"a":5,"b":6,"c":7,"d":8}\n[1]\n'
            '{"a":0.5,"b":1,"c":1.5,"d":2}\n',
        ),
    ],
)
def test_malformed_lines_are_bad_rows_at_their_own_index(
    model_files: dict[str, Path], tmp_path: Path, name: str, text: str
) -> None:
    """Rows 1 and 3 cannot be parsed: they go to the errors file under their index, and the rows
    after them keep theirs, so the output still joins to the input by ``row``."""
    modelport.register(model_files["iris"], "onnx-iris", home=tmp_path)
    (tmp_path / name).write_text(text)
    options = {"features": ["a", "b", "c", "d"], "chunk_rows": 2, "home": tmp_path}
    with pytest.raises(InvalidInput, match=rf"^row 1: malformed .* of .*{name}"):
        modelport.batch_predict("onnx-iris", tmp_path / name, tmp_path / "refused", **options)
    summary = modelport.batch_predict("onnx-iris", tmp_path / name, tmp_path / "out", max_errors=2, **options)
    assert (summary["state"], summary["rows_in"], summary["rows_scored"]) == ("partial", 5, 3)
    assert pq.read_table(tmp_path / "out").column("row").to_pylist() == [0, 2, 4]
    errors = [json.loads(line) for line in (tmp_path / "out" / "_errors.jsonl").read_text().splitlines()]
    assert [e["row"] for e in errors] == [1, 3]
    assert all(e["reason"].startswith("malformed ") for e in errors)


def test_a_progress_callback_that_raises_fails_the_job_instead_of_hanging_it(
    model_files: dict[str, Path], tmp_path: Path
) -> None:
    from modelport.batch import BatchOptions, run_batch
    from modelport.core.settings import Settings
    from modelport.registry.local import open_registry

    modelport.register(model_files["iris"], "onnx-iris", home=tmp_path)
    pq.write_table(pa.table({f"X[{i}]": X.iloc[:, i] for i in range(4)}), tmp_path / "in.parquet")

    def progress(done: int, total: int | None) -> None:
        raise BrokenPipeError("the server went away")

    settings = Settings(home=tmp_path)
    registry = open_registry(settings)
    options = BatchOptions("onnx-iris", str(tmp_path / "in.parquet"), tmp_path / "out", chunk_rows=10)
    try:
        with pytest.raises(BrokenPipeError):
            run_batch(registry, settings, options, progress=progress)
    finally:
        registry.close()
    assert json.loads((tmp_path / "out" / "_manifest.json").read_text())["state"] == "failed"
