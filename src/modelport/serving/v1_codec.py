"""KServe v1 / TF Serving REST bodies <-> canonical requests and answers.

A predict body holds either rows (``instances``: a list of rows, or of objects naming each input)
or columns (``inputs``: one tensor, or an object of named tensors). Rows are answered as
``{"predictions": ...}`` and columns as ``{"outputs": ...}``, one value per output or, for several
outputs, keyed by output name, as TF Serving answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import orjson

from modelport.core.errors import InvalidInput
from modelport.core.inference import InferenceRequest, InferenceResponse
from modelport.core.settings import LimitSettings
from modelport.core.tensors import Datatype, Signature, TensorSpec
from modelport.serving.explaining import BASE, FEATURES
from modelport.serving.json_body import check_depth, json_object
from modelport.serving.oip_common import one_numeric_input
from modelport.serving.oip_json import array_from_json, data_depth, json_data
from modelport.serving.wire_checks import check_shape, check_tensor_bytes

__all__ = [
    "ROWS",
    "SIGNATURE_NAME",
    "decode_predict",
    "decode_predict_body",
    "encode_explanation",
    "encode_predict",
    "parse_body",
    "signature_def",
]

SIGNATURE_NAME = "serving_default"
"""The one signature every model has here (TF Serving's default name)."""
ROWS = "v1_rows"
"""Request parameter: the body came as rows (``instances``), so the answer is ``predictions``."""

_DTYPES = {
    Datatype.BOOL: "DT_BOOL",
    Datatype.UINT8: "DT_UINT8",
    Datatype.UINT16: "DT_UINT16",
    Datatype.UINT32: "DT_UINT32",
    Datatype.UINT64: "DT_UINT64",
    Datatype.INT8: "DT_INT8",
    Datatype.INT16: "DT_INT16",
    Datatype.INT32: "DT_INT32",
    Datatype.INT64: "DT_INT64",
    Datatype.FP16: "DT_HALF",
    Datatype.FP32: "DT_FLOAT",
    Datatype.FP64: "DT_DOUBLE",
    Datatype.BYTES: "DT_STRING",
}


def parse_body(body: bytes, limits: LimitSettings) -> dict[str, Any]:
    """The body as a JSON object no deeper than ``limits.max_json_depth``."""
    document = json_object(body)
    check_depth(document, limits.max_json_depth)
    return document


def decode_predict_body(body: bytes, signature: Signature, limits: LimitSettings) -> InferenceRequest:
    """The request a predict (or explain) body makes: the common form (rows or one tensor of numbers
    for a model of one input) in one pass, anything else as ``parse_body`` and ``decode_predict`` do."""
    document = json_object(body)
    request = _decode_common(document, signature, limits)
    if request is not None:
        return request
    check_depth(document, limits.max_json_depth)
    return decode_predict(document, signature, limits)


def _decode_common(
    document: dict[str, Any], signature: Signature, limits: LimitSettings
) -> InferenceRequest | None:
    if len(document) != 1:
        return None
    has_rows = "instances" in document
    data = document["instances"] if has_rows else document.get("inputs")
    inputs = one_numeric_input(data, signature.inputs, limits.max_tensor_bytes, limits.max_json_depth)
    return None if inputs is None else InferenceRequest(inputs, parameters={ROWS: has_rows})


def decode_predict(
    document: Mapping[str, Any], signature: Signature, limits: LimitSettings
) -> InferenceRequest:
    """The request a predict (or explain) body makes for a model of ``signature``."""
    name = document.get("signature_name", SIGNATURE_NAME)
    if name != SIGNATURE_NAME:
        raise InvalidInput(f"unknown signature_name {name!r}; models here have only {SIGNATURE_NAME!r}")
    has_rows, has_columns = "instances" in document, "inputs" in document
    if has_rows == has_columns:
        raise InvalidInput("the body must have exactly one of 'instances' (rows) or 'inputs' (columns)")
    if has_rows:
        inputs = _from_rows(document["instances"], signature)
    else:
        inputs = _from_columns(document["inputs"], signature)
    check_tensor_bytes(sum(array.nbytes for array in inputs.values()), limits.max_tensor_bytes)
    return InferenceRequest(inputs, parameters={ROWS: has_rows})


def _from_rows(rows: object, signature: Signature) -> dict[str, np.ndarray]:
    if not isinstance(rows, list) or not rows:
        raise InvalidInput("'instances' must be a non-empty list of rows")
    if not isinstance(rows[0], dict):
        spec = _only_input(signature, "rows")
        return {spec.name: _tensor(spec, rows)}
    if not all(isinstance(row, dict) for row in rows):
        raise InvalidInput("'instances' mixes objects and plain rows; use one form for every row")
    names = {spec.name for spec in signature.inputs}
    columns: dict[str, list[Any]] = {name: [] for name in names}
    for index, row in enumerate(rows):
        if row.keys() != names:
            raise InvalidInput(
                f"instance {index} names {sorted(row)}; the model's inputs are {sorted(names)}"
            )
        for key, value in row.items():
            columns[key].append(value)
    return {spec.name: _tensor(spec, columns[spec.name]) for spec in signature.inputs}


def _from_columns(columns: object, signature: Signature) -> dict[str, np.ndarray]:
    if not isinstance(columns, dict):
        spec = _only_input(signature, "an unnamed 'inputs' tensor")
        return {spec.name: _tensor(spec, columns)}
    specs = {spec.name: spec for spec in signature.inputs}
    unknown = sorted(set(columns) - set(specs))
    if unknown:
        raise InvalidInput(f"the model has no input named {unknown[0]!r}; its inputs are {sorted(specs)}")
    return {name: _tensor(specs[name], value) for name, value in columns.items()}


def _only_input(signature: Signature, form: str) -> TensorSpec:
    if len(signature.inputs) != 1:
        names = [spec.name for spec in signature.inputs]
        raise InvalidInput(f"{form} fit a model of one input; this one takes {names}: name each input")
    return signature.inputs[0]


def _tensor(spec: TensorSpec, data: object) -> np.ndarray:
    """``data`` (a nested list, or a scalar) as an array of the input's datatype."""
    if not isinstance(data, list):
        data = [data]
        shape: list[int] = []
    else:
        shape = _shape(data)
    check_shape(spec.name, shape)
    array = array_from_json(spec.name, data, spec.datatype, shape or [1])
    return array.reshape(shape)


def _shape(data: list[Any]) -> list[int]:
    shape, value = [], data
    for _ in range(data_depth(data)):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def encode_predict(response: InferenceResponse, request: InferenceRequest) -> bytes:
    """``{"predictions": ...}`` for rows, ``{"outputs": ...}`` for columns."""
    outputs = {name: _json_tensor(name, array) for name, array in response.outputs.items()}
    if request.parameters.get(ROWS):
        return orjson.dumps({"predictions": _rows(outputs)}, option=orjson.OPT_SERIALIZE_NUMPY)
    only = next(iter(outputs.values())) if len(outputs) == 1 else outputs
    return orjson.dumps({"outputs": only}, option=orjson.OPT_SERIALIZE_NUMPY)


def _rows(outputs: dict[str, Any]) -> list[Any]:
    if len(outputs) == 1:
        return list(next(iter(outputs.values())))
    names = list(outputs)
    return [dict(zip(names, values, strict=True)) for values in zip(*outputs.values(), strict=True)]


def _json_tensor(name: str, array: np.ndarray) -> Any:
    """What orjson writes for the output, row by row: floats as numpy (written at their own
    precision: an FP32 0.1 stays 0.1), other numbers as Python's, text for BYTES."""
    if array.dtype.kind == "f":
        return np.ascontiguousarray(array)
    if array.dtype.kind in "OSU":
        return np.array(json_data(name, array, Datatype.BYTES), dtype=object).reshape(array.shape).tolist()
    return array.tolist()


def encode_explanation(response: InferenceResponse) -> bytes:
    """``{"features", "base": {output: value}, "attributions": {output: [rows][features]}}``
    from an explanation (``serving/explaining.py``: a tensor per explained output, base, features)."""
    outputs = dict(response.outputs)
    features = [name.decode() for name in outputs.pop(FEATURES).tolist()]
    base = outputs.pop(BASE).tolist()
    document = {
        "features": features,
        "base": dict(zip(outputs, base, strict=True)),
        "attributions": outputs,
    }
    return orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY)


def signature_def(signature: Signature) -> dict[str, Any]:
    """TF Serving's ``signature_def`` map for the one signature."""
    return {
        "signature_def": {
            SIGNATURE_NAME: {
                "inputs": {spec.name: _tensor_info(spec) for spec in signature.inputs},
                "outputs": {spec.name: _tensor_info(spec) for spec in signature.outputs},
                "method_name": "tensorflow/serving/predict",
            }
        }
    }


def _tensor_info(spec: TensorSpec) -> dict[str, Any]:
    dims = [{"size": str(size), "name": ""} for size in spec.shape]
    return {
        "dtype": _DTYPES[spec.datatype],
        "tensor_shape": {"dim": dims, "unknown_rank": False},
        "name": spec.name,
    }
