"""Columns to inputs: by name, a matrix from X[0]… / --features / a list column, and the errors."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from modelport.batch.convert import chunk_inputs
from modelport.batch.mapping import map_columns
from modelport.core.errors import InvalidInput
from modelport.core.tensors import Datatype, Signature, TensorSpec

MATRIX = Signature((TensorSpec("X", Datatype.FP32, (-1, 2)),), (TensorSpec("label", Datatype.INT64, (-1,)),))
COLUMNS = Signature(
    (TensorSpec("age", Datatype.INT64, (-1,)), TensorSpec("city", Datatype.BYTES, (-1,))),
    (TensorSpec("score", Datatype.FP32, (-1,)),),
)


def test_a_matrix_input_takes_the_feature_columns_drift_names() -> None:
    table = pa.table({"id": [7, 8], "X[1]": [2.0, 4.0], "X[0]": [1.0, 3.0]})
    mapping = map_columns(MATRIX, table.schema, ids=["id"])
    inputs, bad = chunk_inputs(table, mapping)
    assert bad == {}
    assert inputs["X"].dtype == np.float32
    assert inputs["X"].tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert mapping.ids == ("id",)


def test_features_name_the_matrix_columns_in_order() -> None:
    table = pa.table({"b": [2, 4], "a": [1, 3]})
    inputs, _ = chunk_inputs(table, map_columns(MATRIX, table.schema, features=["a", "b"]))
    assert inputs["X"].tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_a_list_column_feeds_the_matrix_and_a_wrong_length_is_a_bad_row() -> None:
    table = pa.table({"X": [[1.0, 2.0], [1.0, 2.0, 3.0], None]})
    inputs, bad = chunk_inputs(table, map_columns(MATRIX, table.schema))
    assert inputs["X"][0].tolist() == [1.0, 2.0]
    assert set(bad) == {1, 2}
    assert "column 'X'" in bad[1] and "null" in bad[2]


@pytest.mark.parametrize(
    ("table", "features", "message"),
    [
        (pa.table({"a": [1.0]}), [], "input 'X' takes 2 feature columns: name them X[0], X[1]"),
        (pa.table({"a": [1.0]}), ["a"], "--features gives 1 columns but input 'X' takes 2"),
        (pa.table({"a": [1.0]}), ["a", "z"], "--features names column 'z', which the input lacks"),
    ],
)
def test_a_matrix_without_its_columns_is_refused_with_what_to_do(
    table: pa.Table, features: list[str], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message.replace("[", r"\[").replace("]", r"\]")):
        map_columns(MATRIX, table.schema, features=features)


def test_inputs_by_name_convert_types_and_report_each_bad_cell() -> None:
    table = pa.table({"age": ["41", "x", None, "3.5"], "city": [1, 2, 3, 4]})
    inputs, bad = chunk_inputs(table, map_columns(COLUMNS, table.schema))
    assert inputs["age"][0] == 41 and inputs["age"].dtype == np.int64
    assert inputs["city"].tolist() == [b"1", b"2", b"3", b"4"]
    assert bad == {
        1: "column 'age': 'x' is not INT64",
        2: "column 'age' is null (missing)",
        3: "column 'age': '3.5' is not INT64",
    }


def test_nan_is_a_float_but_not_an_integer() -> None:
    table = pa.table({"age": [1.0, float("nan")], "city": ["a", "b"]})
    _, bad = chunk_inputs(table, map_columns(COLUMNS, table.schema))
    assert bad == {1: "column 'age': nan is not INT64"}


def test_missing_columns_and_clashing_ids_are_refused() -> None:
    schema = pa.schema({"age": pa.int64()})
    with pytest.raises(InvalidInput, match="the input has no column 'city'"):
        map_columns(COLUMNS, schema)
    with pytest.raises(InvalidInput, match="id column 'nope' is not in the input"):
        map_columns(COLUMNS, schema, ids=["nope"])
    with pytest.raises(InvalidInput, match="id column 'score' has the name of a model output"):
        map_columns(
            COLUMNS, pa.schema({"age": pa.int64(), "city": pa.string(), "score": pa.int64()}), ids=["score"]
        )
