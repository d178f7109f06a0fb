"""MLflow's request forms to inputs, and predictions to JSON, for signatures the iris model lacks."""

from __future__ import annotations

import json

import numpy as np
import orjson
import pytest

from modelport.core.errors import InvalidInput, ModelportError
from modelport.core.tensors import Datatype, TensorSpec
from modelport.serving.invocations_codec import decode_csv, decode_json, encode_predictions

TABULAR = (TensorSpec("age", Datatype.INT64, (-1,)), TensorSpec("city", Datatype.BYTES, (-1,)))
WIDE = (TensorSpec("X", Datatype.FP32, (-1, -1)),)
LIMIT = 1 << 20
"""Tensor bytes the one-pass decoder may take; 0 sends every body the general way."""


def test_columns_feed_one_dimensional_inputs_by_name_text_included() -> None:
    body = {"dataframe_records": [{"city": "Lyon", "age": 31}, {"city": "Oslo", "age": 47}]}
    inputs = decode_json(orjson.dumps(body), TABULAR, 32, LIMIT)
    assert inputs["age"].tolist() == [31, 47] and inputs["age"].dtype == np.int64
    assert inputs["city"].tolist() == [b"Lyon", b"Oslo"]
    assert decode_csv(b"city,age\nLyon,31\n", TABULAR)["age"].tolist() == [31]


def test_named_instances_give_each_input_its_rows() -> None:
    body = b'{"instances": [{"age": 1, "city": "a"}, {"age": 2, "city": "b"}]}'
    inputs = decode_json(body, TABULAR, 32, LIMIT)
    assert inputs["age"].tolist() == [1, 2]


@pytest.mark.parametrize(
    ("body", "specs", "words"),
    [
        (b'{"inputs": [1, 2]}', TABULAR, ("one input", "'age'")),
        (b'{"instances": [{"age": 1}, 3]}', TABULAR, ("all objects",)),
        (b'{"dataframe_records": [{"age": 1, "city": "a"}, {"age": 2}]}', TABULAR, ("row 1", "'city'")),
        (b'{"dataframe_split": {"columns": ["age", "age"], "data": []}}', TABULAR, ("distinct",)),
    ],
)
def test_json_that_cannot_feed_the_inputs_is_refused_saying_why(
    body: bytes, specs: tuple[TensorSpec, ...], words: tuple[str, ...]
) -> None:
    with pytest.raises(InvalidInput) as caught:
        decode_json(body, specs, 32, LIMIT)
    assert all(word in caught.value.message for word in words), caught.value.message


def test_a_csv_without_a_header_needs_inputs_of_fixed_columns() -> None:
    with pytest.raises(InvalidInput, match="send a CSV header row"):
        decode_csv(b"1,2,3\n", WIDE)
    assert decode_csv(b"X[0],X[1],X[2]\n1,2,3\n", WIDE)["X"].tolist() == [[1.0, 2.0, 3.0]]


def test_predictions_of_text_and_half_floats_are_json() -> None:
    outputs = {
        "label": np.array([[b"setosa"], [b"virginica"]], dtype=object),
        "p": np.array([0.5], np.float16),
    }
    assert orjson.loads(encode_predictions(outputs)) == {
        "predictions": {"label": [["setosa"], ["virginica"]], "p": [0.5]}
    }
    assert orjson.loads(encode_predictions({"y": np.arange(4).reshape(2, 2)[:, 1]})) == {
        "predictions": [1, 3]
    }


SPECS = {
    "FP32": (TensorSpec("X", Datatype.FP32, (-1, -1)),),
    "FP64": (TensorSpec("X", Datatype.FP64, (-1, 3)),),
    "INT64": (TensorSpec("X", Datatype.INT64, (-1,)),),
    "INT32": (TensorSpec("X", Datatype.INT32, (-1,)),),
    "two inputs": (TensorSpec("X", Datatype.FP32, (-1,)), TensorSpec("Y", Datatype.FP32, (-1,))),
}
BODIES = [
    {"inputs": [[1.5, 2, -3]]},
    {"instances": [[1.5, 2, -3], [4, 5, 6]]},
    {"inputs": [1, 2, 3]},
    {"inputs": [[[1.0, 2.0, 3.0]]]},
    {"inputs": [1e39]},  # beyond float32: refused with the general path's words
    {"inputs": [1.5, 2.5]},  # fractions for an integer input
    {"inputs": [2**64]},
    {"inputs": [[1.0, 2.0], [3.0]]},  # ragged
    {"inputs": [True, 2.0]},
    {"inputs": [None, 1.0]},
    {"inputs": ["1", "2"]},
    {"inputs": []},
    {"inputs": [[]]},
    {"inputs": 5},
    {"inputs": {"X": [1.0, 2.0]}},
    {"instances": [{"X": 1.0}]},
    {"inputs": [1.0], "params": {}},
    {"inputs": [[[[[[1.0]]]]]]},  # deeper than the limit of 4 below
]


def decoded(body: bytes, specs: tuple[TensorSpec, ...], limit: int) -> object:
    try:
        return {
            name: (a.dtype, a.shape, a.tolist()) for name, a in decode_json(body, specs, 4, limit).items()
        }
    except ModelportError as error:
        return type(error).__name__, error.message


@pytest.mark.parametrize("signature", list(SPECS))
@pytest.mark.parametrize("document", BODIES, ids=[json.dumps(b) for b in BODIES])
def test_the_one_pass_decoder_agrees_with_the_general_one(
    document: dict[str, object], signature: str
) -> None:
    body = json.dumps(document).encode()  # orjson cannot write 2**64
    assert decoded(body, SPECS[signature], LIMIT) == decoded(body, SPECS[signature], 0)
