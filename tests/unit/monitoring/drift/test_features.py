"""Features from payload-log columns and from reference data, named by the signature."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modelport.core.errors import InvalidInput
from modelport.core.tensors import Datatype, Signature, TensorSpec
from modelport.monitoring.drift.features import log_features
from modelport.monitoring.drift.reference import read_reference_file, reference_table

X = TensorSpec("x", Datatype.FP32, (-1, 3))
AGE = TensorSpec("age", Datatype.INT64, (-1,))
CITY = TensorSpec("city", Datatype.BYTES, (-1, 1))
IMAGE = TensorSpec("image", Datatype.FP32, (-1, 8, 8))
OUT = (TensorSpec("y", Datatype.FP32, (-1,)),)


def test_log_columns_become_features() -> None:
    table = pa.table(
        {
            "input.x": pa.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], pa.list_(pa.float32())),
            "input.age": pa.array([30, 40]),
            "input.city": pa.array(["Oslo", None]),
            "input.image": pa.array([[0.0] * 64, [1.0] * 64]),
            "output.y": pa.array([0.5, 0.25]),
        }
    )
    features = log_features(table, [X, AGE, CITY, IMAGE], "input.")
    assert list(features) == ["x[0]", "x[1]", "x[2]", "age", "city"]
    assert features["x[1]"].tolist() == [2.0, 5.0]
    assert features["age"].tolist() == [30, 40]
    assert features["city"].tolist() == ["Oslo", "(null)"]
    assert log_features(table, OUT, "output.")["y"].tolist() == [0.5, 0.25]


def test_a_dropped_input_and_ragged_rows_have_no_features() -> None:
    table = pa.table({"input.x": pa.array([[1.0, 2.0, 3.0], [4.0]])})
    assert log_features(table, [X, AGE], "input.") == {}


def test_single_2d_input_from_array_and_table() -> None:
    signature = Signature((X,), OUT)
    data = np.arange(12, dtype=np.float32).reshape(4, 3)
    from_array = reference_table(data, signature)
    from_table = reference_table(pa.table({"a": data[:, 0], "b": data[:, 1], "c": data[:, 2]}), signature)
    assert from_array.column_names == from_table.column_names == ["x[0]", "x[1]", "x[2]"]
    assert from_table.column("x[2]").to_pylist() == [2.0, 5.0, 8.0, 11.0]


def test_text_in_object_arrays() -> None:
    table = reference_table({"city": np.array(["Oslo", None], dtype=object)}, Signature((CITY,), OUT))
    assert table.column("city").to_pylist() == ["Oslo", None]


def test_several_inputs_by_name() -> None:
    signature = Signature((AGE, CITY), OUT)
    table = reference_table({"city": np.array(["a", "b"]), "age": np.array([1, 2])}, signature)
    assert table.column_names == ["age", "city"]
    by_columns = reference_table(pa.table({"city": ["a", "b"], "age": [1, 2]}), signature)
    assert by_columns.column_names == ["age", "city"]


@pytest.mark.parametrize(
    ("data", "signature", "message"),
    [
        (np.zeros((4, 2)), Signature((X,), OUT), "has 3 feature"),
        (pa.table({"a": [1.0], "b": [2.0]}), Signature((X,), OUT), "reference table has 2 column"),
        (pa.table({"age": [1], "town": ["a"]}), Signature((AGE, CITY), OUT), r"unknown columns \['town'\]"),
        ({"age": np.array([1])}, Signature((AGE, CITY), OUT), r"missing inputs \['city'\]"),
        ({"age": np.array([1, 2]), "city": np.array(["a"])}, Signature((AGE, CITY), OUT), "same number"),
        (np.zeros((0, 3)), Signature((X,), OUT), "no rows"),
        (np.zeros((2, 8, 8)), Signature((IMAGE,), OUT), "rank 1 or 2"),
        (np.array([object()]), Signature((AGE,), OUT), "mixes types or holds objects"),
        (np.array([1, "a"], dtype=object), Signature((AGE,), OUT), "mixes types"),
        (pa.table({"age": pa.array([1], pa.date32())}), Signature((AGE,), OUT), "holds date32"),
        ("not data", Signature((AGE,), OUT), "must be a numpy array"),
    ],
)
def test_reference_data_must_match_the_signature(data: object, signature: Signature, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        reference_table(data, signature)


def test_reference_files(tmp_path: Path) -> None:
    pq.write_table(pa.table({"a": [1.0, 2.0], "b": [3.0, 4.0]}), tmp_path / "ref.parquet")
    (tmp_path / "named.csv").write_text("first,second\n1,2\n3,4\n")
    (tmp_path / "bare.csv").write_text("1,2\n3,4\n")
    np.save(tmp_path / "ref.npy", np.ones((2, 2)))
    assert read_reference_file(tmp_path / "ref.parquet").column_names == ["a", "b"]
    assert read_reference_file(tmp_path / "named.csv").column_names == ["first", "second"]
    assert read_reference_file(tmp_path / "bare.csv").num_rows == 2
    assert read_reference_file(tmp_path / "ref.npy").shape == (2, 2)
    (tmp_path / "ref.txt").write_text("1")
    with pytest.raises(InvalidInput, match=r"\.npy, \.parquet or \.csv"):
        read_reference_file(tmp_path / "ref.txt")
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    with pytest.raises(InvalidInput, match=r"cannot read reference data 'broken\.parquet'"):
        read_reference_file(tmp_path / "broken.parquet")
