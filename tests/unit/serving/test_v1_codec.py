"""The KServe v1 / TF Serving REST codec: the answer's shape for one output, text outputs, and
inputs TF Serving's docs show that the iris model cannot (a scalar per row, text)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import orjson
import pytest

from modelport.core.errors import InvalidInput, ModelportError
from modelport.core.inference import InferenceResponse
from modelport.core.settings import LimitSettings
from modelport.core.tensors import Datatype, Signature, TensorSpec
from modelport.serving.v1_codec import decode_predict, decode_predict_body, encode_predict, parse_body

LIMITS = LimitSettings()
SCALAR_ROWS = Signature(
    inputs=(TensorSpec("x", Datatype.FP32, (-1,)),), outputs=(TensorSpec("y", Datatype.FP32, (-1,)),)
)
TEXT = Signature(
    inputs=(TensorSpec("city", Datatype.BYTES, (-1,)), TensorSpec("age", Datatype.FP64, (-1,))),
    outputs=(TensorSpec("tier", Datatype.BYTES, (-1,)),),
)


def decode(body: object, signature: Signature) -> dict[str, np.ndarray]:
    return decode_predict(parse_body(orjson.dumps(body), LIMITS), signature, LIMITS).inputs


def answer(body: object, signature: Signature, outputs: dict[str, np.ndarray]) -> object:
    request = decode_predict(parse_body(orjson.dumps(body), LIMITS), signature, LIMITS)
    return orjson.loads(encode_predict(InferenceResponse("m", "1", outputs), request))


def test_one_output_is_answered_unnamed_at_its_own_precision() -> None:
    # TF Serving's example of a model that adds 3 to half its input: {"instances": [1.0, 2.0, 5.0]}
    x = decode({"instances": [1.0, 2.0, 5.0]}, SCALAR_ROWS)["x"]
    assert x.dtype == np.float32 and x.tolist() == [1.0, 2.0, 5.0]
    y = {"y": (x / 2 + 3).astype(np.float32)}
    assert answer({"instances": [1.0, 2.0, 5.0]}, SCALAR_ROWS, y) == {"predictions": [3.5, 4.0, 5.5]}
    assert answer({"inputs": [1.0, 2.0, 5.0]}, SCALAR_ROWS, y) == {"outputs": [3.5, 4.0, 5.5]}
    tenth = {"y": np.array([0.1], dtype=np.float32)}  # not 0.10000000149011612
    assert answer({"inputs": [0.1]}, SCALAR_ROWS, tenth) == {"outputs": [0.1]}


def test_text_inputs_and_outputs() -> None:
    rows = [{"city": "rome", "age": 31}, {"city": "oslo", "age": 58.5}]
    inputs = decode({"instances": rows}, TEXT)
    assert inputs["city"].tolist() == [b"rome", b"oslo"] and inputs["age"].tolist() == [31.0, 58.5]
    tiers = {"tier": np.array([b"gold", b"bronze"], dtype=object)}
    assert answer({"instances": rows}, TEXT, tiers) == {"predictions": ["gold", "bronze"]}
    columns = {"inputs": {"city": ["rome", "oslo"], "age": [31, 58.5]}}
    assert answer(columns, TEXT, tiers) == {"outputs": ["gold", "bronze"]}


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"instances": [{"city": "rome", "age": 31}, {"city": "oslo"}]}, "instance 1"),
        ({"instances": [{"city": "rome", "age": 31}, ["oslo", 2]]}, "mixes"),
        ({"instances": [["rome", 31]]}, "name each input"),
        ({"inputs": {"city": [1, 2], "age": [1, 2]}}, "strings"),
        ({"signature_name": "predict", "inputs": {}}, "'predict'"),
    ],
)
def test_mistakes_are_named(body: object, words: str) -> None:
    with pytest.raises(InvalidInput, match=words):
        decode(body, TEXT)


def test_a_deep_value_behind_an_objects_later_key_is_refused() -> None:
    deep: object = 1.0
    for _ in range(10):
        deep = [deep]
    body = orjson.dumps({"instances": [{"a": 1.0, "b": deep}]})
    with pytest.raises(InvalidInput, match="nested more than 8 levels deep"):
        parse_body(body, LimitSettings(max_json_depth=8))


ONE_INPUT = {
    "FP32": Signature(inputs=(TensorSpec("x", Datatype.FP32, (-1, -1)),), outputs=()),
    "FP64": Signature(inputs=(TensorSpec("x", Datatype.FP64, (-1, 3)),), outputs=()),
    "INT64": Signature(inputs=(TensorSpec("x", Datatype.INT64, (-1,)),), outputs=()),
    "UINT8": Signature(inputs=(TensorSpec("x", Datatype.UINT8, (-1,)),), outputs=()),
}
COMMON_OR_NOT = [
    {"instances": [[1.5, 2, -3]]},
    {"instances": [[1, 2, 3], [4, 5, 6]]},
    {"inputs": [[1.5, 2, -3]]},
    {"instances": [1, 2, 3]},
    {"instances": [1e39]},
    {"instances": [1.5, 2.5]},
    {"instances": [2**64]},
    {"instances": [[1.0, 2.0], [3.0]]},
    {"instances": [True, 2.0]},
    {"instances": [None, 1.0]},
    {"instances": ["1", "2"]},
    {"instances": []},
    {"instances": [[]]},
    {"inputs": 5},
    {"instances": [{"x": 1.0}]},
    {"inputs": {"x": [1.0, 2.0]}},
    {"instances": [1.0], "signature_name": "serving_default"},
    {"instances": [1.0], "signature_name": "other"},
    {"instances": [[[[[[1.0]]]]]]},
    {"instances": [[1.0] * 40]},  # more bytes than the limit below
]
SMALL = LimitSettings(max_json_depth=5, max_tensor_bytes=128)


def predicted(decode: Any) -> object:
    try:
        request = decode()
    except ModelportError as error:
        return type(error).__name__, error.message
    arrays = {name: (a.dtype, a.shape, a.tolist()) for name, a in request.inputs.items()}
    return arrays, request.parameters


@pytest.mark.parametrize("signature", list(ONE_INPUT))
@pytest.mark.parametrize("document", COMMON_OR_NOT, ids=[json.dumps(b) for b in COMMON_OR_NOT])
def test_the_one_pass_decoder_agrees_with_the_general_one(document: dict[str, Any], signature: str) -> None:
    body, spec = json.dumps(document).encode(), ONE_INPUT[signature]  # orjson cannot write 2**64
    fast = predicted(lambda: decode_predict_body(body, spec, SMALL))
    assert fast == predicted(lambda: decode_predict(parse_body(body, SMALL), spec, SMALL))
