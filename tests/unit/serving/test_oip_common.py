"""The one-pass decoder of the common JSON request agrees with the general decoder on every body:
it returns exactly what the general decoder returns, or gives the body back to it (``None``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest

from modelport.core import InvalidInput, ModelportError
from modelport.core.settings import LimitSettings
from modelport.serving.oip_common import decode_common_request
from modelport.serving.oip_request import decode_infer_request

LIMITS = LimitSettings()


def tensor(
    name: str = "x", datatype: str = "FP32", shape: Any = (1, 3), data: Any = (1.5, 2, -3)
) -> dict[str, Any]:
    return {"name": name, "datatype": datatype, "shape": list(shape), "data": list(data)}


TAKEN: dict[str, dict[str, Any]] = {
    "fp32 flat": {"inputs": [tensor()]},
    "fp32 nested": {"inputs": [tensor(data=[[1.5, 2, -3]])]},
    "fp32 from integers": {"inputs": [tensor(data=[1, 2, 3])]},
    "fp64": {"inputs": [tensor(datatype="FP64", data=[0.1, 0.2, 1e300])]},
    "int64": {"inputs": [tensor(datatype="INT64", data=[1, -2, 2**62])]},
    "two inputs": {"inputs": [tensor(), tensor("y", "FP64", (2,), (1.0, 2.0))]},
    "with id": {"id": "abc", "inputs": [tensor()]},
    "null id": {"id": None, "inputs": [tensor()]},
    "three dims": {"inputs": [tensor(shape=(1, 1, 3), data=[[[1.0, 2.0, 3.0]]])]},
    "scalar shape": {"inputs": [tensor(shape=(), data=[4.0])]},
    "float32 max": {"inputs": [tensor(shape=(1,), data=[float(np.finfo(np.float32).max)])]},
}

GIVEN_BACK: dict[str, dict[str, Any]] = {
    "parameters": {"inputs": [tensor()], "parameters": {"binary_data_output": True}},
    "outputs": {"inputs": [tensor()], "outputs": [{"name": "y"}]},
    "input parameters": {"inputs": [{**tensor(), "parameters": {}}]},
    "fp16": {"inputs": [tensor(datatype="FP16")]},
    "int32": {"inputs": [tensor(datatype="INT32", data=[1, 2, 3])]},
    "bytes": {"inputs": [tensor(datatype="BYTES", data=["a", "b", "c"])]},
    "bool": {"inputs": [tensor(datatype="BOOL", data=[True, False, True])]},
    "empty": {"inputs": [tensor(shape=(0, 3), data=[])]},
    # every one of these is an error, worded by the general decoder
    "no inputs": {"inputs": []},
    "inputs not a list": {"inputs": {"x": 1}},
    "id not a string": {"id": 7, "inputs": [tensor()]},
    "duplicate names": {"inputs": [tensor(), tensor()]},
    "empty name": {"inputs": [tensor(name="")]},
    "unknown datatype": {"inputs": [tensor(datatype="fp32")]},
    "datatype not a string": {"inputs": [tensor(datatype=3)]},  # type: ignore[arg-type]
    "negative dim": {"inputs": [tensor(shape=(-1, 3))]},
    "bool dim": {"inputs": [tensor(shape=(True, 3))]},
    "float dim": {"inputs": [tensor(shape=(1.0, 3))]},
    "too few values": {"inputs": [tensor(data=[1.0, 2.0])]},
    "ragged": {"inputs": [tensor(shape=(2, 2), data=[[1.0, 2.0], [3.0]])]},
    "deeper than shape": {"inputs": [tensor(shape=(3,), data=[[1.0, 2.0, 3.0]])]},
    "strings as numbers": {"inputs": [tensor(data=["1", "2", "3"])]},
    "bools as numbers": {"inputs": [tensor(data=[True, False, True])]},
    "nulls": {"inputs": [tensor(data=[None, 1.0, 2.0])]},
    "fraction for int64": {"inputs": [tensor(datatype="INT64", data=[1.5, 2, 3])]},
    "beyond int64": {"inputs": [tensor(datatype="INT64", data=[2**64, 1, 2])]},
    "beyond float32": {"inputs": [tensor(shape=(1,), data=[1e39])]},
    "data not a list": {"inputs": [{**tensor(), "data": 5}]},
    "missing data": {"inputs": [{k: v for k, v in tensor().items() if k != "data"}]},
    "input not an object": {"inputs": [[1, 2, 3]]},
}


def general(document: dict[str, Any], limits: LimitSettings = LIMITS) -> Any:
    """What the general decoder makes of ``document`` (a header length sends it down that path)."""
    body = orjson.dumps(document)
    try:
        return decode_infer_request(body, len(body), limits)
    except ModelportError as error:
        return error


def same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray):
        return (
            isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
        )
    return bool(a == b)


@pytest.mark.parametrize("case", TAKEN)
def test_the_common_request_is_decoded_exactly_as_the_general_decoder_does(case: str) -> None:
    document = TAKEN[case]
    common = decode_common_request(document, LIMITS)
    expected = general(document)
    assert common is not None
    assert not isinstance(expected, ModelportError)
    assert common.inputs.keys() == expected.inputs.keys()
    assert all(same(common.inputs[k], expected.inputs[k]) for k in expected.inputs)
    assert (common.id, common.parameters, common.input_parameters, common.outputs) == (
        expected.id,
        expected.parameters,
        expected.input_parameters,
        expected.outputs,
    )


@pytest.mark.parametrize("case", GIVEN_BACK)
def test_anything_else_is_given_back_to_the_general_decoder(case: str) -> None:
    assert decode_common_request(GIVEN_BACK[case], LIMITS) is None


@pytest.mark.parametrize(
    "limits",
    [LimitSettings(max_tensor_bytes=11), LimitSettings(max_json_depth=4)],
    ids=["tensor bytes", "json depth"],
)
def test_requests_over_a_limit_are_given_back(limits: LimitSettings) -> None:
    document = {"inputs": [tensor(shape=(1, 3), data=[[1.0, 2.0, 3.0]])]}
    assert decode_common_request(document, limits) is None
    assert isinstance(general(document, limits), ModelportError)


def test_the_public_decoder_takes_the_common_path_and_still_words_errors() -> None:
    taken = decode_infer_request(orjson.dumps(TAKEN["fp32 nested"]), None, LIMITS)
    assert taken.inputs["x"].dtype == np.float32
    with pytest.raises(InvalidInput, match="out of range"):
        decode_infer_request(orjson.dumps(GIVEN_BACK["beyond float32"]), None, LIMITS)
