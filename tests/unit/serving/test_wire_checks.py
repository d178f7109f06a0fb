"""The wire rules both codecs share, and the same message from REST and gRPC for the same mistake."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from modelport.core import InferenceRequest, InferenceResponse, InvalidInput, ModelportError, TooLarge
from modelport.core.inference import RequestedOutput
from modelport.core.settings import LimitSettings
from modelport.serving import oip_codec
from modelport.serving.grpc import codec as grpc_codec
from modelport.serving.grpc import grpc_predict_v2_pb2 as pb
from modelport.serving.wire_checks import (
    MAX_DIMS,
    check_requested_outputs,
    check_shape,
    check_tensor_bytes,
)


def test_a_shape_is_concrete_and_of_bounded_rank() -> None:
    check_shape("x", [0, 3])
    check_shape("x", [1] * MAX_DIMS)
    with pytest.raises(InvalidInput, match=r"input 'x': shape \[2, -1\] has a negative dimension"):
        check_shape("x", [2, -1])
    with pytest.raises(InvalidInput, match=f"33 dimensions, more than {MAX_DIMS}"):
        check_shape("x", [1] * (MAX_DIMS + 1))


def test_the_tensor_byte_budget_is_inclusive() -> None:
    check_tensor_bytes(100, 100)
    with pytest.raises(TooLarge, match="need 101 bytes, more than the limit of 100"):
        check_tensor_bytes(101, 100)


def test_requested_outputs_must_be_the_models() -> None:
    outputs = {"y": np.ones(1), "p": np.ones(1)}
    check_requested_outputs([RequestedOutput("p")], outputs)
    with pytest.raises(InvalidInput, match="unknown output 'z'; the model's outputs are 'y', 'p'"):
        check_requested_outputs([RequestedOutput("p"), RequestedOutput("z")], outputs)


def rest_error(shape: list[int], limits: LimitSettings) -> str:
    body = {"inputs": [{"name": "x", "datatype": "FP32", "shape": shape, "data": [1.0]}]}
    with pytest.raises(ModelportError) as error:
        oip_codec.decode_infer_request(orjson.dumps(body), None, limits)
    return error.value.message


def grpc_error(shape: list[int], limits: LimitSettings) -> str:
    message = pb.ModelInferRequest(model_name="m")
    message.inputs.add(name="x", datatype="FP32", shape=shape).contents.fp32_contents.append(1.0)
    with pytest.raises(ModelportError) as error:
        grpc_codec.decode_infer_request(message, limits)
    return error.value.message


@pytest.mark.parametrize(
    ("shape", "limits"),
    [
        ([1, -1], LimitSettings()),
        ([1] * (MAX_DIMS + 1), LimitSettings()),
        ([1, 1000], LimitSettings(max_tensor_bytes=1000)),
    ],
    ids=["negative", "rank", "budget"],
)
def test_rest_and_grpc_refuse_the_same_request_in_the_same_words(
    shape: list[int], limits: LimitSettings
) -> None:
    assert rest_error(shape, limits) == grpc_error(shape, limits)


def test_rest_and_grpc_encoders_refuse_the_same_unknown_output() -> None:
    response = InferenceResponse("m", "1", {"y": np.ones(1, np.float32)})
    request = InferenceRequest({}, outputs=[RequestedOutput("z")])
    with pytest.raises(InvalidInput) as rest:
        oip_codec.encode_infer_response(response, request)
    with pytest.raises(InvalidInput) as grpc:
        grpc_codec.encode_infer_response(response, request)
    assert rest.value.message == grpc.value.message
