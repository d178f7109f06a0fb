"""Open Inference Protocol gRPC messages <-> the canonical ``InferenceRequest`` / ``InferenceResponse``.

A pure module. Tensor data comes either as typed ``contents`` (one repeated field per datatype family) or,
for every input at once, as ``raw_input_contents`` in the binary tensor format (little-endian elements;
BYTES elements each prefixed with a 4-byte little-endian length). Responses always use
``raw_output_contents``, which is what stock clients read by default. Numeric data is converted with
numpy, never element by element in Python; sizes are checked from declared shapes before allocating.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from google.protobuf.internal.containers import MessageMap

from modelport.core import (
    Datatype,
    InferenceRequest,
    InferenceResponse,
    InvalidInput,
    RequestedOutput,
)
from modelport.core.settings import LimitSettings
from modelport.serving.grpc import grpc_predict_v2_pb2 as pb
from modelport.serving.oip_binary import array_from_binary, binary_chunks, binary_size
from modelport.serving.wire_checks import (
    check_requested_outputs,
    check_shape,
    check_tensor_bytes,
    check_unique,
    input_datatype,
    output_datatype,
)

__all__ = [
    "decode_infer_request",
    "decode_parameters",
    "encode_infer_response",
    "encode_parameters",
    "encode_stream_response",
]

_INT64_MAX = 2**63 - 1

_CONTENTS_FIELD: dict[Datatype, str] = {
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
"""Which ``InferTensorContents`` field carries each datatype; FP16 has none (raw only)."""

_FIELD_DTYPE: dict[str, np.dtype[Any]] = {
    "bool_contents": np.dtype(np.bool_),
    "int_contents": np.dtype(np.int32),
    "int64_contents": np.dtype(np.int64),
    "uint_contents": np.dtype(np.uint32),
    "uint64_contents": np.dtype(np.uint64),
    "fp32_contents": np.dtype(np.float32),
    "fp64_contents": np.dtype(np.float64),
}
"""The dtype of each numeric field's wire type, to read it before narrowing to the tensor's dtype."""

_ALL_FIELDS = (*_FIELD_DTYPE, "bytes_contents")


# --- requests ---------------------------------------------------------------------------------------------


def decode_infer_request(message: pb.ModelInferRequest, limits: LimitSettings) -> InferenceRequest:
    """The canonical request in ``message``; every problem is an ``InvalidInput`` (or ``TooLarge``)."""
    inputs = list(message.inputs)
    if not inputs:
        raise InvalidInput("the request needs 'inputs': at least one input tensor")
    raw = list(message.raw_input_contents)
    if raw and len(raw) != len(inputs):
        raise InvalidInput(
            f"raw_input_contents has {len(raw)} entries, but the request has {len(inputs)} inputs; "
            "when raw_input_contents is used it needs one entry per input, in input order"
        )
    headers = [_input_header(tensor, raw_data=bool(raw)) for tensor in inputs]
    check_unique([name for name, _, _ in headers], "input")
    _check_tensor_bytes(inputs, headers, raw, limits.max_tensor_bytes)
    arrays: dict[str, np.ndarray] = {}
    for index, (tensor, (name, datatype, shape)) in enumerate(zip(inputs, headers, strict=True)):
        if raw:
            arrays[name] = _array_from_raw(name, raw[index], datatype, shape)
        else:
            arrays[name] = _array_from_contents(name, tensor.contents, datatype, shape)
    input_parameters = {tensor.name: decode_parameters(tensor.parameters) for tensor in inputs}
    return InferenceRequest(
        inputs=arrays,
        id=message.id or None,
        parameters=decode_parameters(message.parameters),
        input_parameters={name: params for name, params in input_parameters.items() if params},
        outputs=_requested_outputs(message),
    )


def _input_header(
    tensor: pb.ModelInferRequest.InferInputTensor, raw_data: bool
) -> tuple[str, Datatype, list[int]]:
    name = tensor.name
    if not name:
        raise InvalidInput("each input needs a 'name': a non-empty string")
    shape = list(tensor.shape)
    check_shape(name, shape)
    datatype = input_datatype(name, tensor.datatype)
    if raw_data and tensor.HasField("contents") and _filled_fields(tensor.contents):
        raise InvalidInput(
            f"input {name!r} has typed 'contents', but the request also uses raw_input_contents; "
            "send every input one way or the other"
        )
    return name, datatype, shape


def _check_tensor_bytes(
    inputs: Sequence[pb.ModelInferRequest.InferInputTensor],
    headers: Sequence[tuple[str, Datatype, list[int]]],
    raw: Sequence[bytes],
    limit: int,
) -> None:
    """Refuse requests whose decoded tensors would exceed ``limit``, before allocating any of them."""
    total = 0
    for index, (tensor, (_, datatype, shape)) in enumerate(zip(inputs, headers, strict=True)):
        fixed = binary_size(datatype, shape)
        if fixed is not None:
            total += fixed
        elif raw:
            total += len(raw[index])
        else:
            total += sum(map(len, tensor.contents.bytes_contents))
    check_tensor_bytes(total, limit)


def _array_from_raw(name: str, data: bytes, datatype: Datatype, shape: list[int]) -> np.ndarray:
    fixed = binary_size(datatype, shape)
    if fixed is not None and len(data) != fixed:
        raise InvalidInput(
            f"input {name!r}: raw_input_contents has {len(data)} bytes, "
            f"but shape {shape} of {datatype} needs {fixed} bytes"
        )
    return array_from_binary(name, memoryview(data), datatype, shape)


def _filled_fields(contents: pb.InferTensorContents) -> list[str]:
    return [field for field in _ALL_FIELDS if len(getattr(contents, field))]


def _array_from_contents(
    name: str, contents: pb.InferTensorContents, datatype: Datatype, shape: list[int]
) -> np.ndarray:
    expected = math.prod(shape)
    filled = _filled_fields(contents)
    if datatype is Datatype.FP16:
        if filled or expected:
            raise InvalidInput(
                f"input {name!r}: FP16 has no typed contents field; send FP16 data in raw_input_contents"
            )
        return np.empty(shape, dtype=np.float16)
    field = _CONTENTS_FIELD[datatype]
    wrong = [f for f in filled if f != field]
    if wrong:
        raise InvalidInput(
            f"input {name!r}: datatype {datatype} takes its data in {field}, not in {wrong[0]}"
        )
    values = getattr(contents, field)
    if len(values) != expected:
        raise InvalidInput(f"input {name!r}: shape {shape} needs {expected} elements, got {len(values)}")
    if datatype is Datatype.BYTES:
        out = np.empty(expected, dtype=object)
        out[:] = list(values)
        return out.reshape(shape)
    return _narrow(name, np.asarray(values, dtype=_FIELD_DTYPE[field]), datatype).reshape(shape)


def _narrow(name: str, array: np.ndarray, datatype: Datatype) -> np.ndarray:
    """``array`` (of its field's wire dtype) as ``datatype``, refusing values the datatype cannot hold."""
    dtype = datatype.numpy_dtype
    if array.dtype == dtype:
        return array
    info = np.iinfo(dtype)
    if array.size and (array.min() < info.min or array.max() > info.max):
        raise InvalidInput(f"input {name!r}: a value is out of range for {datatype} [{info.min}, {info.max}]")
    return array.astype(dtype)


def _requested_outputs(message: pb.ModelInferRequest) -> list[RequestedOutput] | None:
    if not message.outputs:
        return None
    names = [output.name for output in message.outputs]
    if not all(names):
        raise InvalidInput("each requested output needs a non-empty 'name'")
    check_unique(names, "requested output")
    return [RequestedOutput(o.name, decode_parameters(o.parameters)) for o in message.outputs]


def decode_parameters(parameters: Mapping[str, pb.InferParameter]) -> dict[str, Any]:
    """A protocol parameter map as plain Python values (bool, int, str or float)."""
    decoded: dict[str, Any] = {}
    for key, parameter in parameters.items():
        choice = parameter.WhichOneof("parameter_choice")
        decoded[key] = getattr(parameter, choice) if choice is not None else None
    return decoded


# --- responses --------------------------------------------------------------------------------------------


def encode_infer_response(response: InferenceResponse, request: InferenceRequest) -> pb.ModelInferResponse:
    """The message answering ``request``: the requested outputs in its order (else all), data raw."""
    message = pb.ModelInferResponse()
    _write_infer_response(message, response, request)
    return message


def encode_stream_response(
    response: InferenceResponse, request: InferenceRequest
) -> pb.ModelStreamInferResponse:
    """The same answer as one of a ``ModelStreamInfer`` stream (written in place, never copied)."""
    message = pb.ModelStreamInferResponse()
    _write_infer_response(message.infer_response, response, request)
    return message


def _write_infer_response(
    message: pb.ModelInferResponse, response: InferenceResponse, request: InferenceRequest
) -> None:
    """Fill the empty ``message`` with the answer to ``request``."""
    message.model_name = response.model_name
    message.model_version = response.model_version
    request_id = response.id if response.id is not None else request.id
    if request_id:
        message.id = request_id
    encode_parameters(response.parameters, message.parameters)
    for name in _wanted(response, request):
        array = np.asarray(response.outputs[name])
        datatype = output_datatype(name, array)
        if datatype is not Datatype.BYTES and array.dtype != datatype.numpy_dtype:
            array = array.astype(datatype.numpy_dtype)
        message.outputs.add(name=name, datatype=datatype.value, shape=array.shape)
        message.raw_output_contents.append(b"".join(binary_chunks(array, datatype)))


def _wanted(response: InferenceResponse, request: InferenceRequest) -> list[str]:
    if request.outputs is None:
        return list(response.outputs)
    check_requested_outputs(request.outputs, response.outputs)
    return [item.name for item in request.outputs]


def encode_parameters(parameters: Mapping[str, Any], into: MessageMap[str, pb.InferParameter]) -> None:
    """Write plain Python ``parameters`` into a protocol parameter map (``into``, a message's map field)."""
    for key, value in parameters.items():
        parameter = into[key]
        if isinstance(value, bool | np.bool_):
            parameter.bool_param = bool(value)
        elif isinstance(value, int | np.integer):
            if int(value) > _INT64_MAX:
                parameter.uint64_param = int(value)
            else:
                parameter.int64_param = int(value)
        elif isinstance(value, float | np.floating):
            parameter.double_param = float(value)
        else:
            parameter.string_param = str(value)
