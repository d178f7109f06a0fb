"""Reference data sent to a remote server: arrays as .npy, everything else as a Parquet table."""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from modelport.client.remote import reference_upload
from modelport.core.tensors import Datatype, Signature, TensorSpec
from modelport.monitoring.drift.reference import reference_table


def test_an_array_goes_as_npy() -> None:
    name, data = reference_upload(np.ones((2, 3)))
    assert name == "reference.npy"
    assert np.load(io.BytesIO(data)).shape == (2, 3)


def test_a_mapping_goes_as_feature_columns_the_server_accepts() -> None:
    name, data = reference_upload({"x": np.arange(6.0).reshape(3, 2), "age": np.array([1, 2, 3])})
    assert name == "reference.parquet"
    table = pq.read_table(io.BytesIO(data))
    assert table.column_names == ["x[0]", "x[1]", "age"]
    signature = Signature(
        (TensorSpec("age", Datatype.INT64, (-1,)), TensorSpec("x", Datatype.FP64, (-1, 2))), ()
    )
    assert reference_table(table, signature).column_names == ["age", "x[0]", "x[1]"]


def test_a_table_goes_as_it_is() -> None:
    name, data = reference_upload(pa.table({"a": [1.0], "b": [2.0]}))
    assert name == "reference.parquet"
    assert pq.read_table(io.BytesIO(data)).column_names == ["a", "b"]
