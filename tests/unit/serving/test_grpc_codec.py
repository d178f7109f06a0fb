"""The Open Inference Protocol gRPC codec: typed and raw contents, limits, errors, and wire compatibility
with tritonclient.grpc's own messages (Triton's proto, a superset of ours with the same field numbers)."""

from __future__ import annotations

import numpy as np
import pytest
import tritonclient.grpc as triton
from tritonclient.grpc import service_pb2
from tritonclient.grpc._utils import _get_inference_request

from modelport.core import (
    Datatype,
    InferenceRequest,
    InferenceResponse,
    InternalError,
    InvalidInput,
    RequestedOutput,
    TooLarge,
)
from modelport.core.errors import ErrorKind
from modelport.core.settings import LimitSettings
from modelport.serving.grpc import grpc_predict_v2_pb2 as pb
from modelport.serving.grpc.codec import decode_infer_request, encode_infer_response
from modelport.serving.grpc.errors import GRPC_STATUS

LIMITS = LimitSettings()

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
    Datatype.BYTES: np.array(
        [[b"a", b"", "\u00e9t\u00e9".encode()], [b"xyz", b"\x00\xff", b" "]], dtype=object
    ),
}
TYPED = [d for d in SAMPLES if d is not Datatype.FP16]
FIELD = {
    Datatype.BOOL: "bool_contents",
    Datatype.INT8: "int_contents",
    Datatype.INT16: "int_contents",
    Datatype.INT32: "int_contents",
    Datatype.INT64: "int64_contents",
    Datatype.UINT8: "uint_contents",
    Datatype.UINT16: "uint_contents",
    Datatype.UINT32: "uint_contents",
    Datatype.UINT64: "uint64_contents",
    Datatype.FP32: "fp32_contents",
    Datatype.FP64: "fp64_contents",
    Datatype.BYTES: "bytes_contents",
}


def typed_request(name: str, datatype: Datatype, array: np.ndarray, **extra: object) -> pb.ModelInferRequest:
    message = pb.ModelInferRequest(model_name="m", **extra)  # type: ignore[arg-type]
    tensor = message.inputs.add(name=name, datatype=datatype.value, shape=array.shape)
    getattr(tensor.contents, FIELD[datatype]).extend(array.reshape(-1).tolist())
    return message


def raw_request(arrays: dict[str, tuple[Datatype, np.ndarray]]) -> pb.ModelInferRequest:
    message = pb.ModelInferRequest(model_name="m")
    for name, (datatype, array) in arrays.items():
        message.inputs.add(name=name, datatype=datatype.value, shape=array.shape)
        if datatype is Datatype.BYTES:
            flat = array.reshape(-1)
            message.raw_input_contents.append(b"".join(len(b).to_bytes(4, "little") + b for b in flat))
        else:
            message.raw_input_contents.append(array.astype(array.dtype.newbyteorder("<")).tobytes())
    return message


def assert_same(got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape
    assert got.dtype == want.dtype
    assert got.tolist() == want.tolist()


@pytest.mark.parametrize("datatype", TYPED, ids=str)
def test_typed_contents_round_trip(datatype: Datatype) -> None:
    want = SAMPLES[datatype]
    decoded = decode_infer_request(typed_request("t", datatype, want), LIMITS)
    assert_same(decoded.inputs["t"], want)


@pytest.mark.parametrize("datatype", list(SAMPLES), ids=str)
def test_raw_contents_round_trip(datatype: Datatype) -> None:
    want = SAMPLES[datatype]
    wire = raw_request({"t": (datatype, want)}).SerializeToString()
    decoded = decode_infer_request(pb.ModelInferRequest.FromString(wire), LIMITS)
    assert_same(decoded.inputs["t"], want)


@pytest.mark.parametrize("datatype", list(SAMPLES), ids=str)
def test_tritonclient_request_decodes_and_our_response_reads_back(datatype: Datatype) -> None:
    """Triton's own client builds the request; Triton's own result class reads our response."""
    want = SAMPLES[datatype]
    infer_input = triton.InferInput("t", list(want.shape), datatype.value)
    infer_input.set_data_from_numpy(want)
    theirs = _get_inference_request(
        model_name="m",
        inputs=[infer_input],
        model_version="",
        request_id="r-1",
        outputs=[triton.InferRequestedOutput("t")],
        sequence_id=0,
        sequence_start=False,
        sequence_end=False,
        priority=0,
        timeout=None,
        parameters=None,
    )
    decoded = decode_infer_request(pb.ModelInferRequest.FromString(theirs.SerializeToString()), LIMITS)
    assert decoded.id == "r-1"
    assert decoded.outputs == [RequestedOutput("t")]
    assert_same(decoded.inputs["t"], want)

    response = InferenceResponse("m", "3", {"t": decoded.inputs["t"]}, id="r-1")
    ours = encode_infer_response(response, decoded)
    result = triton.InferResult(service_pb2.ModelInferResponse.FromString(ours.SerializeToString()))
    back = result.as_numpy("t")
    assert back is not None and back.shape == want.shape
    assert back.tolist() == want.tolist()
    assert result.get_response().model_version == "3"
    assert result.get_response().id == "r-1"


def test_several_raw_inputs_are_taken_in_input_order() -> None:
    message = raw_request(
        {"a": (Datatype.FP32, SAMPLES[Datatype.FP32]), "b": (Datatype.BYTES, SAMPLES[Datatype.BYTES])}
    )
    decoded = decode_infer_request(message, LIMITS)
    assert_same(decoded.inputs["a"], SAMPLES[Datatype.FP32])
    assert_same(decoded.inputs["b"], SAMPLES[Datatype.BYTES])


def test_parameters_and_requested_outputs() -> None:
    message = typed_request("x", Datatype.FP32, np.zeros((1, 2), np.float32), id="abc")
    message.parameters["flag"].bool_param = True
    message.parameters["n"].int64_param = -3
    message.parameters["s"].string_param = "hi"
    message.parameters["f"].double_param = 0.5
    message.parameters["u"].uint64_param = 2**64 - 1
    message.inputs[0].parameters["p"].string_param = "q"
    message.outputs.add(name="b").parameters["k"].int64_param = 1
    message.outputs.add(name="a")
    decoded = decode_infer_request(message, LIMITS)
    assert decoded.id == "abc"
    assert decoded.parameters == {"flag": True, "n": -3, "s": "hi", "f": 0.5, "u": 2**64 - 1}
    assert decoded.input_parameters == {"x": {"p": "q"}}
    assert decoded.outputs == [RequestedOutput("b", {"k": 1}), RequestedOutput("a")]


def test_response_selects_and_orders_requested_outputs_and_echoes_id() -> None:
    outputs = {"a": np.arange(3, dtype=np.int64), "b": np.array([[1.5]], np.float32)}
    request = InferenceRequest(inputs={}, id="r", outputs=[RequestedOutput("b"), RequestedOutput("a")])
    message = encode_infer_response(InferenceResponse("m", "2", outputs, parameters={"x": 1}), request)
    assert [(o.name, o.datatype, list(o.shape)) for o in message.outputs] == [
        ("b", "FP32", [1, 1]),
        ("a", "INT64", [3]),
    ]
    assert message.id == "r" and message.model_name == "m" and message.model_version == "2"
    assert message.parameters["x"].int64_param == 1
    assert np.frombuffer(message.raw_output_contents[1], "<i8").tolist() == [0, 1, 2]
    everything = encode_infer_response(InferenceResponse("m", "2", outputs), InferenceRequest(inputs={}))
    assert [o.name for o in everything.outputs] == ["a", "b"]
    assert not everything.id


def test_string_outputs_are_sent_as_bytes() -> None:
    response = InferenceResponse("m", "1", {"s": np.array(["x", "\u00e9"])})
    message = encode_infer_response(response, InferenceRequest(inputs={}))
    assert message.outputs[0].datatype == "BYTES"
    assert message.raw_output_contents[0] == b"\x01\x00\x00\x00x\x02\x00\x00\x00\xc3\xa9"


def test_an_output_without_a_protocol_datatype_is_internal() -> None:
    response = InferenceResponse("m", "1", {"c": np.array([1j])})
    with pytest.raises(InternalError):
        encode_infer_response(response, InferenceRequest(inputs={}))


def invalid(message: pb.ModelInferRequest, match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        decode_infer_request(message, LIMITS)


def test_invalid_requests_name_the_problem() -> None:
    fp32 = np.zeros((2, 2), np.float32)
    invalid(pb.ModelInferRequest(model_name="m"), "at least one input")
    wrong_count = typed_request("x", Datatype.FP32, fp32)
    wrong_count.inputs[0].shape[:] = [3, 2]
    invalid(wrong_count, r"shape \[3, 2\] needs 6 elements, got 4")
    negative = typed_request("x", Datatype.FP32, fp32)
    negative.inputs[0].shape[:] = [-1, 4]
    invalid(negative, "negative dimension")
    unknown = typed_request("x", Datatype.FP32, fp32)
    unknown.inputs[0].datatype = "FLOAT"
    invalid(unknown, "unknown datatype 'FLOAT'")
    lower = typed_request("x", Datatype.FP32, fp32)
    lower.inputs[0].datatype = "fp32"
    invalid(lower, "case-sensitive")
    mismatch = typed_request("x", Datatype.FP32, fp32)
    mismatch.inputs[0].datatype = "INT64"
    invalid(mismatch, "INT64 takes its data in int64_contents, not in fp32_contents")
    empty = pb.ModelInferRequest(model_name="m")
    empty.inputs.add(name="x", datatype="FP32", shape=[2])
    invalid(empty, r"needs 2 elements, got 0")
    twice = typed_request("x", Datatype.FP32, fp32)
    twice.inputs.append(twice.inputs[0])
    invalid(twice, "'x' appears more than once")
    nameless = typed_request("", Datatype.FP32, fp32)
    invalid(nameless, "needs a 'name'")


def test_fp16_needs_raw_contents() -> None:
    message = pb.ModelInferRequest(model_name="m")
    message.inputs.add(name="h", datatype="FP16", shape=[1]).contents.fp32_contents.append(1.0)
    invalid(message, "FP16 has no typed contents field")


def test_typed_values_out_of_range_are_refused() -> None:
    message = typed_request("x", Datatype.INT32, np.array([300], np.int32))
    message.inputs[0].datatype = "INT8"
    invalid(message, r"out of range for INT8 \[-128, 127\]")
    unsigned = typed_request("x", Datatype.UINT32, np.array([70000], np.uint32))
    unsigned.inputs[0].datatype = "UINT16"
    invalid(unsigned, "out of range for UINT16")


def test_raw_contents_problems() -> None:
    fp32 = np.zeros((2, 2), np.float32)
    short = raw_request({"x": (Datatype.FP32, fp32)})
    short.raw_input_contents[0] = short.raw_input_contents[0][:-1]
    invalid(short, r"raw_input_contents has 15 bytes, but shape \[2, 2\] of FP32 needs 16 bytes")
    missing = raw_request({"x": (Datatype.FP32, fp32)})
    missing.inputs.add(name="y", datatype="FP32", shape=[1]).contents.fp32_contents.append(1.0)
    invalid(missing, "raw_input_contents has 1 entries, but the request has 2 inputs")
    both = raw_request({"x": (Datatype.FP32, fp32)})
    both.inputs[0].contents.fp32_contents.extend([1.0, 2.0, 3.0, 4.0])
    invalid(both, "also uses raw_input_contents")
    bad_bytes = raw_request({"s": (Datatype.BYTES, np.array([b"abc"], dtype=object))})
    bad_bytes.raw_input_contents[0] = b"\x09\x00\x00\x00abc"
    invalid(bad_bytes, "runs past")
    bad_bool = raw_request({"b": (Datatype.BOOL, np.array([True]))})
    bad_bool.raw_input_contents[0] = b"\x02"
    invalid(bad_bool, "BOOL binary data must be bytes 0 or 1")


def test_declared_sizes_are_checked_before_allocating() -> None:
    message = pb.ModelInferRequest(model_name="m")
    message.inputs.add(name="x", datatype="FP64", shape=[1 << 20, 1 << 20])
    with pytest.raises(TooLarge, match="more than the limit"):
        decode_infer_request(message, LIMITS)
    small = LimitSettings(max_tensor_bytes=10)
    with pytest.raises(TooLarge):
        decode_infer_request(typed_request("s", Datatype.BYTES, np.array([b"x" * 11], dtype=object)), small)


def test_every_error_kind_has_a_status() -> None:
    assert set(GRPC_STATUS) == set(ErrorKind)
