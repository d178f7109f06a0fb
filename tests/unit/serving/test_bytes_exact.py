"""BYTES elements survive byte-exact on every path a tensor takes through the server (issue 10, point 8).

numpy's fixed-width ``str`` and ``bytes`` dtypes drop trailing NULs (``np.array([b"a\\0"])[0] == b"a"``),
so any conversion through them changes the data without a word. Each path is checked here with
elements that end in NUL, are only NUL, are empty, hold NUL inside, and (where the path carries bytes
rather than text) are not UTF-8. Text a model cannot take as it is (non-UTF-8 bytes for an ONNX
string input) is refused with an error naming the input, never changed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
import tritonclient.http as triton
from onnx import TensorProto, helper
from tritonclient.http import InferenceServerClient as Client

from modelport.core import Datatype, InferenceRequest, InferenceResponse, InvalidInput, RequestedOutput
from modelport.core.settings import LimitSettings
from modelport.runtimes.arrays import decode_strings, encode_strings
from modelport.runtimes.base import LoadedModel, LoadOptions
from modelport.runtimes.frames import decode_arrays, encode_frame
from modelport.runtimes.onnx import OnnxRuntime
from modelport.serving.batching.merge import merge, split
from modelport.serving.grpc import codec as grpc_codec
from modelport.serving.grpc import grpc_predict_v2_pb2 as pb
from modelport.serving.oip_codec import HEADER_LENGTH, decode_infer_request, encode_infer_response
from modelport.serving.oip_common import decode_common_request

LIMITS = LimitSettings()
TEXTS = ["a\x00", "\x00", "ab\x00\x00", "", "x\x00y", "\u00e9\x00"]
"""Elements JSON can carry (text): trailing, lone and inner NULs, the empty string, non-ASCII."""
ENCODED = [text.encode() for text in TEXTS]
RAW = [*ENCODED, b"\xff\x00", b"\x00\xfe\x00"]
"""Elements only the binary forms carry: the texts' bytes plus bytes that are not UTF-8."""


def objects(values: list[Any], shape: tuple[int, ...] | None = None) -> np.ndarray:
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array.reshape(shape or (len(values),))


def assert_exact(array: np.ndarray, expected: list[bytes]) -> None:
    assert array.dtype == object
    assert array.reshape(-1).tolist() == expected
    assert all(type(item) is bytes for item in array.reshape(-1))


# --- REST: JSON and the binary tensor data extension ------------------------------------------------------


def json_body(values: list[str], shape: list[int] | None = None) -> bytes:
    tensor = {"name": "text", "datatype": "BYTES", "shape": shape or [len(values)], "data": values}
    return orjson.dumps({"inputs": [tensor]})


def test_json_strings_with_nul_are_decoded_byte_exact() -> None:
    body = json_body(TEXTS)
    assert_exact(decode_infer_request(body, None, LIMITS).inputs["text"], ENCODED)
    nested = json_body([TEXTS[:3], TEXTS[3:]], [2, 3])
    decoded = decode_infer_request(nested, None, LIMITS).inputs["text"]
    assert decoded.shape == (2, 3)
    assert_exact(decoded, ENCODED)


def test_the_common_request_decoder_leaves_bytes_to_the_general_one() -> None:
    document = orjson.loads(json_body(TEXTS))
    assert decode_common_request(document, LIMITS) is None
    numbers_as_text = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [2], "data": ["1\x00", "2"]}]}
    assert decode_common_request(numbers_as_text, LIMITS) is None
    with pytest.raises(InvalidInput, match="must be numbers"):
        decode_infer_request(orjson.dumps(numbers_as_text), None, LIMITS)


@pytest.mark.parametrize("binary_in", [False, True], ids=["json-in", "binary-in"])
@pytest.mark.parametrize("binary_out", [False, True], ids=["json-out", "binary-out"])
def test_the_triton_http_client_round_trips_bytes_exactly(binary_in: bool, binary_out: bool) -> None:
    sent = RAW if binary_in and binary_out else ENCODED  # JSON carries text only
    infer_input = triton.InferInput("text", [len(sent)], "BYTES").set_data_from_numpy(
        objects(sent), binary_in
    )
    outputs = [triton.InferRequestedOutput("echo", binary_data=binary_out)]
    body, json_size = Client.generate_request_body([infer_input], outputs=outputs)
    request = decode_infer_request(body, json_size, LIMITS)
    assert_exact(request.inputs["text"], sent)

    response = InferenceResponse("m", "1", {"echo": request.inputs["text"]})
    body, headers = encode_infer_response(response, request)
    result = Client.parse_response_body(body, header_length=headers.get(HEADER_LENGTH)).as_numpy("echo")
    got = result.reshape(-1).tolist()
    assert got == (sent if binary_out else TEXTS)  # the client gives JSON strings back as str


def test_the_default_json_response_keeps_nul() -> None:
    response = InferenceResponse("m", "1", {"echo": objects(ENCODED)})
    body, _ = encode_infer_response(response, InferenceRequest({}))
    assert orjson.loads(body)["outputs"][0]["data"] == TEXTS


def test_bytes_that_are_not_utf8_are_refused_as_json_never_changed() -> None:
    response = InferenceResponse("m", "1", {"echo": objects([b"ok", b"\xff\x00"])})
    with pytest.raises(InvalidInput, match=r"not valid UTF-8.*binary_data"):
        encode_infer_response(response, InferenceRequest({}))


# --- gRPC: typed bytes_contents and raw_input_contents ------------------------------------------------


def grpc_request(values: list[bytes], raw: bool) -> pb.ModelInferRequest:
    message = pb.ModelInferRequest(model_name="m")
    tensor = message.inputs.add(name="text", datatype="BYTES", shape=[len(values)])
    if raw:
        message.raw_input_contents.append(b"".join(len(v).to_bytes(4, "little") + v for v in values))
    else:
        tensor.contents.bytes_contents.extend(values)
    return message


@pytest.mark.parametrize("raw", [False, True], ids=["bytes_contents", "raw_input_contents"])
def test_grpc_round_trips_bytes_exactly(raw: bool) -> None:
    request = grpc_codec.decode_infer_request(grpc_request(RAW, raw), LIMITS)
    assert_exact(request.inputs["text"], RAW)
    message = grpc_codec.encode_infer_response(
        InferenceResponse("m", "1", {"echo": request.inputs["text"]}), request
    )
    assert message.outputs[0].datatype == "BYTES"
    body = message.raw_output_contents[0]
    lengths = [len(v).to_bytes(4, "little") + v for v in RAW]
    assert body == b"".join(lengths)


# --- inside the server: batching, the confined child's frames ------------------------------------------


def test_a_merged_batch_of_two_requests_splits_back_exactly() -> None:
    first, second = objects(RAW[:4], (4, 1)), objects(RAW[4:], (len(RAW) - 4, 1))
    merged = merge([{"text": first}, {"text": second}])
    assert_exact(merged["text"], RAW)
    parts = split({"echo": merged["text"]}, [4, len(RAW) - 4])
    assert_exact(parts[0]["echo"], RAW[:4])
    assert_exact(parts[1]["echo"], RAW[4:])


def test_frames_to_and_from_a_confined_child_keep_bytes_exact() -> None:
    frame = encode_frame({"op": "predict"}, {"text": objects(RAW)})
    length = int.from_bytes(frame[:4], "little")
    header = orjson.loads(frame[4 : 4 + length])
    assert_exact(decode_arrays(header, frame[4 + length :])["text"], RAW)


# --- the runtimes' string helpers and an ONNX string model ---------------------------------------------


def test_strings_for_a_framework_keep_nul_and_come_back_exact() -> None:
    text = decode_strings(objects(ENCODED, (2, 3)), "text")
    assert text.shape == (2, 3) and text.dtype == object
    assert text.reshape(-1).tolist() == TEXTS
    assert_exact(encode_strings(text), ENCODED)
    assert_exact(encode_strings(objects([*ENCODED, *TEXTS])), ENCODED + ENCODED)


def test_text_that_is_not_utf8_is_refused_naming_the_input() -> None:
    with pytest.raises(InvalidInput, match=r"input 'text'.*UTF-8"):
        decode_strings(objects([b"ok", b"\xff\x00"]), "text")


@pytest.fixture(scope="module")
def echo_model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoadedModel]:
    graph = helper.make_graph(
        [helper.make_node("Identity", ["text"], ["echo"])],
        "echo",
        [helper.make_tensor_value_info("text", TensorProto.STRING, [None])],
        [helper.make_tensor_value_info("echo", TensorProto.STRING, [None])],
    )
    path: Path = tmp_path_factory.mktemp("echo") / "echo.onnx"
    path.write_bytes(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()
    )
    model = OnnxRuntime().load(path, LoadOptions())
    yield model
    model.close()


def test_an_onnx_string_model_gets_and_gives_nul_exactly(echo_model: LoadedModel) -> None:
    assert echo_model.signature.inputs[0].datatype is Datatype.BYTES
    assert_exact(echo_model.predict({"text": objects(ENCODED)})["echo"], ENCODED)


def test_an_onnx_string_model_refuses_bytes_that_are_not_utf8(echo_model: LoadedModel) -> None:
    with pytest.raises(InvalidInput, match=r"input 'text'.*UTF-8"):
        echo_model.predict({"text": objects([b"ok", b"\xff\x00"])})


def test_requested_binary_output_of_the_model_is_exact(echo_model: LoadedModel) -> None:
    request = InferenceRequest(
        {"text": objects(ENCODED)}, outputs=[RequestedOutput("echo", {"binary_data": True})]
    )
    response = InferenceResponse("m", "1", echo_model.predict(request.inputs))
    body, headers = encode_infer_response(response, request)
    result = Client.parse_response_body(body, header_length=headers.get(HEADER_LENGTH))
    assert result.as_numpy("echo").tolist() == ENCODED
