"""The Open Inference Protocol (KServe V2 / Triton) REST codec: bytes <-> canonical request/response.

A pure module, no HTTP framework: the front-end passes the body and the
``Inference-Header-Content-Length`` header in, and sends the returned body and headers out.
Requests are decoded in ``oip_request``; tensor data in ``oip_json`` and ``oip_binary``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import orjson

from modelport.core import (
    Datatype,
    InferenceRequest,
    InferenceResponse,
    InternalError,
    RequestedOutput,
)
from modelport.serving.oip_binary import binary_chunks
from modelport.serving.oip_json import json_data
from modelport.serving.oip_request import decode_infer_document, decode_infer_request, parse_header_length
from modelport.serving.wire_checks import check_requested_outputs, output_datatype

__all__ = [
    "HEADER_LENGTH",
    "JSON_HEADERS",
    "decode_infer_document",
    "decode_infer_request",
    "encode_infer_response",
    "encode_json",
    "parse_header_length",
]

HEADER_LENGTH = "Inference-Header-Content-Length"
JSON_CONTENT_TYPE = "application/json"
BINARY_CONTENT_TYPE = "application/octet-stream"
JSON_HEADERS: Mapping[str, str] = MappingProxyType({"Content-Type": JSON_CONTENT_TYPE})
"""The headers of every JSON response (one object, so front-ends may convert them once)."""


@dataclass(frozen=True, slots=True)
class _Output:
    name: str
    datatype: Datatype
    array: np.ndarray
    chunks: list[bytes | memoryview] | None
    """The binary form's byte chunks, ``None`` when the output is sent as JSON."""


def encode_json(obj: object) -> bytes:
    """``obj`` as JSON bytes; numpy arrays and scalars are serialised natively."""
    return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY)


def encode_infer_response(
    response: InferenceResponse,
    request: InferenceRequest,
    datatypes: Mapping[str, Datatype] | None = None,
) -> tuple[bytes, Mapping[str, str]]:
    """The body and extra headers answering ``request`` with ``response``.

    Outputs are those ``request`` names (in its order), else all of ``response``'s. An output is sent
    binary when its parameters say ``binary_data: true``, or the request's say ``binary_data_output: true``
    and its own do not say ``binary_data: false``.
    """
    if request.outputs is None and datatypes is None and "binary_data_output" not in request.parameters:
        return _encode_all_json(response, request), JSON_HEADERS
    outputs = [_output(response, item, request.parameters, datatypes) for item in _wanted(response, request)]
    document = _response_header(response, request)
    document["outputs"] = [_output_json(o) for o in outputs]
    header = encode_json(document)
    chunks = [chunk for o in outputs for chunk in o.chunks or ()]
    if all(o.chunks is None for o in outputs):
        return header, JSON_HEADERS
    headers = {"Content-Type": BINARY_CONTENT_TYPE, HEADER_LENGTH: str(len(header))}
    return b"".join([header, *chunks]), headers


def _response_header(response: InferenceResponse, request: InferenceRequest) -> dict[str, Any]:
    """The response document's fields other than ``outputs``."""
    document: dict[str, Any] = {"model_name": response.model_name, "model_version": response.model_version}
    request_id = response.id if response.id is not None else request.id
    if request_id is not None:
        document["id"] = request_id
    if response.parameters:
        document["parameters"] = response.parameters
    return document


def _encode_all_json(response: InferenceResponse, request: InferenceRequest) -> bytes:
    """The common case, kept short: every output, as JSON, each datatype taken from its dtype."""
    document = _response_header(response, request)
    entries = []
    for name, array in response.outputs.items():
        datatype = output_datatype(name, array)  # an Enum: orjson writes its value
        entries.append(
            {
                "name": name,
                "datatype": datatype,
                "shape": array.shape,
                "data": json_data(name, array, datatype),
            }
        )
    document["outputs"] = entries
    return encode_json(document)


def _wanted(response: InferenceResponse, request: InferenceRequest) -> list[RequestedOutput]:
    if request.outputs is None:
        return [RequestedOutput(name) for name in response.outputs]
    check_requested_outputs(request.outputs, response.outputs)
    return request.outputs


def _output(
    response: InferenceResponse,
    requested: RequestedOutput,
    request_parameters: Mapping[str, Any],
    datatypes: Mapping[str, Datatype] | None,
) -> _Output:
    name = requested.name
    array = np.asarray(response.outputs[name])
    datatype = datatypes[name] if datatypes and name in datatypes else output_datatype(name, array)
    binary = requested.parameters.get("binary_data", request_parameters.get("binary_data_output", False))
    array = _as_datatype(name, array, datatype)
    return _Output(name, datatype, array, binary_chunks(array, datatype) if binary is True else None)


def _as_datatype(name: str, array: np.ndarray, datatype: Datatype) -> np.ndarray:
    if datatype is Datatype.BYTES or array.dtype == datatype.numpy_dtype:
        return array
    try:
        return array.astype(datatype.numpy_dtype)
    except (ValueError, TypeError) as exc:
        raise InternalError(f"output {name!r} of dtype {array.dtype} cannot be sent as {datatype}") from exc


def _output_json(output: _Output) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": output.name,
        "datatype": output.datatype.value,
        "shape": list(output.array.shape),
    }
    if output.chunks is not None:
        entry["parameters"] = {"binary_data_size": sum(map(len, output.chunks))}
    else:
        entry["data"] = json_data(output.name, output.array, output.datatype)
    return entry
