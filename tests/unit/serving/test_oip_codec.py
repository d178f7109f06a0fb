"""Round trips of the Open Inference Protocol REST codec, cross-checked against Triton's own client."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest
import tritonclient.http as triton

from modelport.core import Datatype, InferenceRequest, InferenceResponse, InvalidInput, RequestedOutput
from modelport.core.settings import LimitSettings
from modelport.serving.oip_codec import (
    HEADER_LENGTH,
    decode_infer_request,
    encode_infer_response,
    encode_json,
)

LIMITS = LimitSettings()
Client = triton.InferenceServerClient

SAMPLES: dict[Datatype, np.ndarray] = {
    Datatype.BOOL: np.array([[True, False, True], [False, False, True]]),
    Datatype.UINT8: np.array([[0, 255, 7], [1, 2, 3]], np.uint8),
    Datatype.UINT16: np.array([[0, 65535, 7], [1, 2, 3]], np.uint16),
    Datatype.UINT32: np.array([[0, 2**32 - 1, 7], [1, 2, 3]], np.uint32),
    Datatype.UINT64: np.array([[0, 2**64 - 1, 7], [1, 2, 3]], np.uint64),
    Datatype.INT8: np.array([[-128, 127, 0], [1, -2, 3]], np.int8),
    Datatype.INT16: np.array([[-(2**15), 2**15 - 1, 0], [1, -2, 3]], np.int16),
    Datatype.INT32: np.array([[-(2**31), 2**31 - 1, 0], [1, -2, 3]], np.int32),
    Datatype.INT64: np.array([[-(2**63), 2**63 - 1, 0], [1, -2, 3]], np.int64),
    Datatype.FP16: np.array([[0.5, -1.25, 65504.0], [0.1, 0.0, -3.0]], np.float16),
    Datatype.FP32: np.array([[0.5, -1.25, 3.4e38], [0.1, 1e-30, -3.0]], np.float32),
    Datatype.FP64: np.array([[0.5, -1.25, 1e300], [0.1, 1e-300, -3.0]], np.float64),
    Datatype.BYTES: np.array([[b"a", b"", "\u00e9t\u00e9".encode()], [b"xyz", b"0", b" "]], dtype=object),
}


def triton_request(
    arrays: dict[str, np.ndarray], binary: bool, outputs: list[triton.InferRequestedOutput] | None = None
) -> InferenceRequest:
    inputs = []
    for name, array in arrays.items():
        datatype = Datatype.from_numpy(array.dtype).value
        inputs.append(triton.InferInput(name, list(array.shape), datatype).set_data_from_numpy(array, binary))
    body, json_size = Client.generate_request_body(inputs, outputs=outputs, request_id="req-1")
    return decode_infer_request(body, json_size, LIMITS)


def triton_result(body: bytes, headers: dict[str, str]) -> Any:
    return Client.parse_response_body(body, header_length=headers.get(HEADER_LENGTH))


def assert_same(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.dtype == expected.dtype
    assert actual.shape == expected.shape
    assert actual.tolist() == expected.tolist()


@pytest.mark.parametrize("datatype", list(Datatype))
@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_every_datatype_round_trips_with_the_triton_client(datatype: Datatype, binary: bool) -> None:
    array = SAMPLES[datatype]
    outputs = [triton.InferRequestedOutput("y", binary_data=binary)]
    request = triton_request({"x": array}, binary, outputs)
    assert_same(request.inputs["x"], array)
    assert request.id == "req-1"

    response = InferenceResponse("m", "1", {"y": request.inputs["x"]})
    body, headers = encode_infer_response(response, request)
    result = triton_result(body, headers)
    expected = array
    if datatype is Datatype.BYTES and not binary:  # the client gives JSON strings back as str
        expected = np.array([[b.decode() for b in row] for row in array], dtype=object)
    assert_same(result.as_numpy("y"), expected)
    assert result.get_response()["id"] == "req-1"
    assert (HEADER_LENGTH in headers) is binary
    assert headers["Content-Type"] == ("application/octet-stream" if binary else "application/json")


def test_binary_inputs_are_decoded_without_copying() -> None:
    request = triton_request({"a": SAMPLES[Datatype.FP32], "b": SAMPLES[Datatype.INT64]}, binary=True)
    for array in request.inputs.values():
        assert not array.flags.owndata
        assert not array.flags.writeable


def test_triton_client_without_outputs_asks_for_all_outputs_in_binary() -> None:
    request = triton_request({"x": SAMPLES[Datatype.FP32]}, binary=False)
    assert request.outputs is None
    assert request.parameters["binary_data_output"] is True
    response = InferenceResponse("m", "1", {"b": np.arange(3), "a": np.ones(2, np.float32)})
    body, headers = encode_infer_response(response, request)
    header = orjson.loads(body[: int(headers[HEADER_LENGTH])])
    assert [o["name"] for o in header["outputs"]] == ["b", "a"]
    assert all("data" not in o for o in header["outputs"])
    result = triton_result(body, headers)
    assert_same(result.as_numpy("b"), np.arange(3))
    assert_same(result.as_numpy("a"), np.ones(2, np.float32))


def json_request(inputs: list[dict[str, Any]], **extra: Any) -> InferenceRequest:
    return decode_infer_request(orjson.dumps({"inputs": inputs, **extra}), None, LIMITS)


def test_flat_and_nested_data_give_the_same_array() -> None:
    flat = json_request([{"name": "x", "shape": [2, 3], "datatype": "INT32", "data": [1, 2, 3, 4, 5, 6]}])
    nested = json_request(
        [{"name": "x", "shape": [2, 3], "datatype": "INT32", "data": [[1, 2, 3], [4, 5, 6]]}]
    )
    assert_same(flat.inputs["x"], np.arange(1, 7, dtype=np.int32).reshape(2, 3))
    assert_same(nested.inputs["x"], flat.inputs["x"])


def test_envelope_fields_are_kept() -> None:
    request = json_request(
        [{"name": "x", "shape": [1], "datatype": "FP64", "data": [2], "parameters": {"content_type": "np"}}],
        id="abc",
        parameters={"priority": 2},
        outputs=[{"name": "y", "parameters": {"binary_data": True}}],
    )
    assert request.id == "abc"
    assert request.parameters == {"priority": 2}
    assert request.input_parameters == {"x": {"content_type": "np"}}
    assert request.outputs == [RequestedOutput("y", {"binary_data": True})]
    assert_same(request.inputs["x"], np.array([2.0]))


def test_integral_floats_are_accepted_for_integer_datatypes() -> None:
    request = json_request([{"name": "x", "shape": [2], "datatype": "INT8", "data": [1.0, -2]}])
    assert_same(request.inputs["x"], np.array([1, -2], np.int8))
    request = json_request([{"name": "x", "shape": [2], "datatype": "INT64", "data": [1.0, 2**62 + 1]}])
    assert_same(request.inputs["x"], np.array([1, 2**62 + 1], np.int64))


def test_large_uint64_values_stay_exact() -> None:
    request = json_request(
        [{"name": "x", "shape": [3], "datatype": "UINT64", "data": [0, 2**64 - 1, 2**63 + 1]}]
    )
    assert_same(request.inputs["x"], np.array([0, 2**64 - 1, 2**63 + 1], np.uint64))


def test_zero_sized_tensors() -> None:
    request = json_request([{"name": "x", "shape": [0, 3], "datatype": "FP32", "data": []}])
    assert_same(request.inputs["x"], np.zeros((0, 3), np.float32))
    body, headers = encode_infer_response(InferenceResponse("m", "1", request.inputs), request)
    assert_same(triton_result(body, headers).as_numpy("x"), np.zeros((0, 3), np.float32))


def response_of(**outputs: np.ndarray) -> InferenceResponse:
    return InferenceResponse("m", "2", outputs)


def test_requested_outputs_choose_subset_and_order() -> None:
    request = InferenceRequest(inputs={}, outputs=[RequestedOutput("c"), RequestedOutput("a")])
    body, headers = encode_infer_response(response_of(a=np.ones(1), b=np.ones(2), c=np.ones(3)), request)
    document = orjson.loads(body)
    assert [o["name"] for o in document["outputs"]] == ["c", "a"]
    assert document["model_name"] == "m"
    assert document["model_version"] == "2"
    assert "id" not in document
    assert headers == {"Content-Type": "application/json"}


def test_response_json_shape_is_flat_row_major() -> None:
    body, _ = encode_infer_response(
        response_of(y=np.arange(6, dtype=np.int16).reshape(2, 3)), InferenceRequest({})
    )
    assert orjson.loads(body)["outputs"] == [
        {"name": "y", "datatype": "INT16", "shape": [2, 3], "data": [0, 1, 2, 3, 4, 5]}
    ]


def test_global_binary_output_with_per_output_override() -> None:
    request = InferenceRequest(
        inputs={},
        parameters={"binary_data_output": True},
        outputs=[RequestedOutput("a"), RequestedOutput("b", {"binary_data": False})],
    )
    a, b = np.arange(4, dtype=np.float32), np.array([b"q"], dtype=object)
    body, headers = encode_infer_response(response_of(a=a, b=b), request)
    length = int(headers[HEADER_LENGTH])
    outputs = orjson.loads(body[:length])["outputs"]
    assert outputs[0]["parameters"] == {"binary_data_size": 16}
    assert outputs[1]["data"] == ["q"]
    assert body[length:] == a.tobytes()
    result = triton_result(body, headers)
    assert_same(result.as_numpy("a"), a)


def test_per_output_binary_flag() -> None:
    request = InferenceRequest(
        inputs={}, outputs=[RequestedOutput("a"), RequestedOutput("b", {"binary_data": True})]
    )
    body, headers = encode_infer_response(
        response_of(a=np.ones(2), b=np.array([b"xy", b""], dtype=object)), request
    )
    assert body[int(headers[HEADER_LENGTH]) :] == b"\x02\x00\x00\x00xy\x00\x00\x00\x00"


def test_declared_datatype_casts_the_output() -> None:
    body, _ = encode_infer_response(
        response_of(y=np.array([1.5, 2.0])), InferenceRequest({}), {"y": Datatype.FP32}
    )
    assert orjson.loads(body)["outputs"][0] == {
        "name": "y",
        "datatype": "FP32",
        "shape": [2],
        "data": [1.5, 2.0],
    }


def test_str_arrays_are_sent_as_bytes() -> None:
    request = InferenceRequest(
        inputs={}, outputs=[RequestedOutput("y", {"binary_data": True}), RequestedOutput("z")]
    )
    outputs = response_of(y=np.array(["ab", "c"]), z=np.array(["d"]))
    body, headers = encode_infer_response(outputs, request)
    result = triton_result(body, headers)
    assert result.as_numpy("y").tolist() == [b"ab", b"c"]
    assert result.as_numpy("z").tolist() == ["d"]


def test_response_id_and_parameters() -> None:
    response = InferenceResponse("m", "1", {"y": np.ones(1)}, parameters={"sequence_id": 3})
    body, _ = encode_infer_response(response, InferenceRequest({}, id="r-9"))
    document = orjson.loads(body)
    assert document["id"] == "r-9"
    assert document["parameters"] == {"sequence_id": 3}


def test_unknown_requested_output_is_refused() -> None:
    request = InferenceRequest(inputs={}, outputs=[RequestedOutput("nope")])
    with pytest.raises(InvalidInput, match=r"unknown output 'nope'.*'y'"):
        encode_infer_response(response_of(y=np.ones(1)), request)


def test_non_utf8_bytes_need_binary_output() -> None:
    response = response_of(y=np.array([b"\xff\xfe"], dtype=object))
    with pytest.raises(InvalidInput, match="binary_data"):
        encode_infer_response(response, InferenceRequest({}))
    binary = InferenceRequest({}, outputs=[RequestedOutput("y", {"binary_data": True})])
    body, headers = encode_infer_response(response, binary)
    assert triton_result(body, headers).as_numpy("y").tolist() == [b"\xff\xfe"]


def test_encode_json_serialises_numpy() -> None:
    assert (
        encode_json({"a": np.arange(3), "b": np.float32(0.5), "c": "x"}) == b'{"a":[0,1,2],"b":0.5,"c":"x"}'
    )
