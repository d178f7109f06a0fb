"""Decoding an Open Inference Protocol (KServe V2 / Triton) REST inference request body.

The body is a JSON header, optionally followed by the raw tensors of the binary tensor data extension
(the header's length then comes in the ``Inference-Header-Content-Length`` header). Every problem is an
``InvalidInput`` whose message tells the caller what to change. Sizes are checked before any tensor is
allocated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from modelport.core import Datatype, InferenceRequest, InvalidInput, RequestedOutput
from modelport.core.settings import LimitSettings
from modelport.serving.json_body import json_object
from modelport.serving.oip_binary import array_from_binary, binary_size
from modelport.serving.oip_common import decode_common_request
from modelport.serving.oip_json import INPUT_DATA_DEPTH, array_from_json, data_depth
from modelport.serving.wire_checks import check_shape, check_tensor_bytes, check_unique, input_datatype

__all__ = ["decode_infer_document", "decode_infer_request", "parse_header_length"]

_NOT_AN_OBJECT = "the request body must be a JSON object with an 'inputs' list"
_NO_TAIL = memoryview(b"")


@dataclass(frozen=True, slots=True)
class _InputHeader:
    name: str
    datatype: Datatype
    shape: list[int]
    parameters: dict[str, Any]
    data: object
    binary_size: int | None


def parse_header_length(value: str | None) -> int | None:
    """The ``Inference-Header-Content-Length`` header's value as an int (``None`` when absent)."""
    if value is None:
        return None
    text = value.strip()
    if not (text.isascii() and text.isdigit()):
        raise InvalidInput(f"Inference-Header-Content-Length must be a non-negative integer, got {value!r}")
    return int(text)


def decode_infer_request(body: bytes, json_length: int | None, limits: LimitSettings) -> InferenceRequest:
    """The request in ``body``; ``json_length`` is the ``Inference-Header-Content-Length`` header."""
    header, tail = _split_body(body, json_length)
    document = json_object(header, _NOT_AN_OBJECT)
    if json_length is None:
        common = decode_common_request(document, limits)
        if common is not None:
            return common
    return _decode_document(document, limits, tail, has_header=json_length is not None)


def decode_infer_document(document: object, limits: LimitSettings) -> InferenceRequest:
    """The request a parsed JSON body (no binary tensors) holds: what a caller that has the body as
    Python objects already (the local ``predict``) decodes, with the same checks and messages."""
    if not isinstance(document, dict):
        raise InvalidInput(_NOT_AN_OBJECT)
    common = decode_common_request(document, limits)
    if common is not None:
        return common
    return _decode_document(document, limits, _NO_TAIL, has_header=False)


def _decode_document(
    document: dict[str, Any], limits: LimitSettings, tail: memoryview, has_header: bool
) -> InferenceRequest:
    _check_depth(document, limits.max_json_depth)
    inputs = [_input_header(item) for item in _input_list(document)]
    check_unique([i.name for i in inputs], "input")
    check_tensor_bytes(_declared_bytes(inputs), limits.max_tensor_bytes)
    _check_binary_total(inputs, len(tail), has_header)
    arrays = _decode_arrays(inputs, tail)
    _check_tensor_bytes_after(inputs, arrays, limits.max_tensor_bytes)
    return InferenceRequest(
        inputs=arrays,
        id=_request_id(document),
        parameters=_parameters(document, "the request"),
        input_parameters={i.name: i.parameters for i in inputs if i.parameters},
        outputs=_requested_outputs(document),
    )


def _split_body(body: bytes, json_length: int | None) -> tuple[bytes | memoryview, memoryview]:
    if json_length is None:
        return body, _NO_TAIL
    view = memoryview(body)
    if not isinstance(json_length, int) or isinstance(json_length, bool):
        raise InvalidInput("Inference-Header-Content-Length must be an integer")
    if json_length < 0 or json_length > len(view):
        raise InvalidInput(
            f"Inference-Header-Content-Length is {json_length}, but the body has {len(view)} bytes"
        )
    return view[:json_length], view[json_length:]


def _check_depth(document: dict[str, Any], limit: int) -> None:
    """Refuse bodies nested deeper than ``limit``; ``data`` lists are measured along first elements.

    Only containers are walked: scalars, the common case for every key but ``data``, cost nothing.
    """
    depth = 1
    for key, value in document.items():
        if key != "inputs" and isinstance(value, dict | list):
            depth = max(depth, 1 + _nesting(value, limit))
    inputs = document.get("inputs")
    if isinstance(inputs, list):
        depth = max(depth, 2)
        for item in inputs:
            depth = max(depth, _input_depth(item, limit))
    if depth > limit:
        raise InvalidInput(f"the JSON body is nested {depth} levels deep, more than the limit of {limit}")


def _input_depth(item: object, limit: int) -> int:
    if not isinstance(item, dict):
        return 2 + _nesting(item, limit)
    depth = 3
    for key, value in item.items():
        if key == "data":
            depth = max(depth, INPUT_DATA_DEPTH + data_depth(value))
        elif isinstance(value, dict | list) and key != "shape":
            depth = max(depth, 3 + _nesting(value, limit))
    shape = item.get("shape")
    if isinstance(shape, list) and any(isinstance(d, dict | list) for d in shape):
        depth = max(depth, 3 + _nesting(shape, limit))
    return depth


def _nesting(value: object, limit: int) -> int:
    """Depth of nested lists/objects in ``value`` (0 for a scalar), walked without recursion."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack and deepest <= limit:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children if isinstance(child, dict | list))
    return deepest


def _input_list(document: dict[str, Any]) -> list[dict[str, Any]]:
    inputs = document.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise InvalidInput("the request needs 'inputs': a non-empty list of input tensors")
    if not all(isinstance(item, dict) for item in inputs):
        raise InvalidInput("each entry of 'inputs' must be an object with 'name', 'shape' and 'datatype'")
    return inputs


def _input_header(item: dict[str, Any]) -> _InputHeader:
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidInput("each input needs a 'name': a non-empty string")
    for key in ("shape", "datatype"):
        if key not in item:
            raise InvalidInput(f"input {name!r} needs {key!r}")
    parameters = _parameters(item, f"input {name!r}")
    size = parameters.get("binary_data_size")
    if ("data" in item) == (size is not None):
        raise InvalidInput(
            f"input {name!r} needs exactly one of 'data' (JSON) or 'parameters.binary_data_size' (binary)"
        )
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        raise InvalidInput(f"input {name!r}: binary_data_size must be a non-negative integer")
    shape = _shape(name, item["shape"])
    return _InputHeader(
        name, input_datatype(name, item["datatype"]), shape, parameters, item.get("data"), size
    )


def _shape(name: str, shape: object) -> list[int]:
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape):
        raise InvalidInput(f"input {name!r}: 'shape' must be a list of integers, got {shape!r}")
    check_shape(name, shape)
    return shape


def _declared_bytes(inputs: list[_InputHeader]) -> int:
    total = 0
    for i in inputs:
        fixed = binary_size(i.datatype, i.shape)
        total += fixed if fixed is not None else (i.binary_size or 0)
    return total


def _check_tensor_bytes_after(inputs: list[_InputHeader], arrays: dict[str, np.ndarray], limit: int) -> None:
    """JSON BYTES inputs have no declared size; count their decoded bytes too."""
    extra = sum(
        sum(map(len, arrays[i.name].reshape(-1)))
        for i in inputs
        if i.datatype is Datatype.BYTES and i.binary_size is None
    )
    if extra:
        check_tensor_bytes(_declared_bytes(inputs) + extra, limit)


def _check_binary_total(inputs: list[_InputHeader], available: int, has_header: bool) -> None:
    declared = sum(i.binary_size or 0 for i in inputs)
    binary = [i.name for i in inputs if i.binary_size is not None]
    if binary and not has_header:
        raise InvalidInput(
            f"inputs {binary} use binary_data_size, but the request has no Inference-Header-Content-Length"
        )
    if declared != available:
        raise InvalidInput(
            f"binary data: inputs declare {declared} bytes, but {available} bytes follow the JSON header"
        )
    for i in inputs:
        fixed = binary_size(i.datatype, i.shape)
        if i.binary_size is not None and fixed is not None and i.binary_size != fixed:
            raise InvalidInput(
                f"input {i.name!r}: binary_data_size is {i.binary_size}, "
                f"but shape {i.shape} of {i.datatype} needs {fixed} bytes"
            )


def _decode_arrays(inputs: list[_InputHeader], tail: memoryview) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    offset = 0
    for i in inputs:
        if i.binary_size is None:
            if data_depth(i.data) > max(1, len(i.shape)):
                raise InvalidInput(f"input {i.name!r}: 'data' is nested deeper than shape {i.shape}")
            arrays[i.name] = array_from_json(i.name, i.data, i.datatype, i.shape)
        else:
            chunk = tail[offset : offset + i.binary_size]
            arrays[i.name] = array_from_binary(i.name, chunk, i.datatype, i.shape)
            offset += i.binary_size
    return arrays


def _request_id(document: dict[str, Any]) -> str | None:
    request_id = document.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InvalidInput("the request's 'id' must be a string")
    return request_id


def _parameters(obj: dict[str, Any], owner: str) -> dict[str, Any]:
    parameters = obj.get("parameters", {})
    if not isinstance(parameters, dict):
        raise InvalidInput(f"'parameters' of {owner} must be a JSON object")
    _check_flag(parameters, "binary_data_output", owner)
    return parameters


def _check_flag(parameters: dict[str, Any], key: str, owner: str) -> None:
    if key in parameters and not isinstance(parameters[key], bool):
        raise InvalidInput(f"parameter {key!r} of {owner} must be true or false")


def _requested_outputs(document: dict[str, Any]) -> list[RequestedOutput] | None:
    outputs = document.get("outputs")
    if outputs is None or outputs == []:
        return None
    if not isinstance(outputs, list) or not all(
        isinstance(o, dict) and isinstance(o.get("name"), str) and o["name"] for o in outputs
    ):
        raise InvalidInput("'outputs' must be a list of objects, each with a non-empty 'name'")
    check_unique([o["name"] for o in outputs], "requested output")
    requested = []
    for o in outputs:
        parameters = _parameters(o, f"output {o['name']!r}")
        _check_flag(parameters, "binary_data", f"output {o['name']!r}")
        requested.append(RequestedOutput(name=o["name"], parameters=parameters))
    return requested
