"""Requests the Open Inference Protocol codec refuses, each with a message the caller can act on."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from modelport.core import InvalidInput, TooLarge
from modelport.core.settings import LimitSettings
from modelport.serving.oip_codec import decode_infer_request, parse_header_length

LIMITS = LimitSettings()


def decode(document: Any, limits: LimitSettings = LIMITS) -> None:
    decode_infer_request(json.dumps(document).encode(), None, limits)  # json: ints beyond 64 bits


def tensor(
    data: Any, datatype: str = "FP32", shape: list[int] | None = None, name: str = "x"
) -> dict[str, Any]:
    return {
        "name": name,
        "datatype": datatype,
        "shape": [len(data)] if shape is None else shape,
        "data": data,
    }


ENVELOPE_ERRORS = [
    ([1, 2], "must be a JSON object"),
    ({}, "needs 'inputs'"),
    ({"inputs": {}}, "needs 'inputs'"),
    ({"inputs": []}, "needs 'inputs'"),
    ({"inputs": [3]}, "each entry of 'inputs' must be an object"),
    ({"inputs": [{"shape": [1], "datatype": "FP32", "data": [1]}]}, "needs a 'name'"),
    ({"inputs": [{"name": "x", "datatype": "FP32", "data": [1]}]}, "input 'x' needs 'shape'"),
    ({"inputs": [{"name": "x", "shape": [1], "data": [1]}]}, "input 'x' needs 'datatype'"),
    ({"inputs": [tensor([1]), tensor([2])]}, "input 'x' appears more than once"),
    ({"inputs": [tensor([1], shape=[-1])]}, "negative dimension"),
    ({"inputs": [tensor([1], shape=[1.0])]}, "must be a list of integers"),
    ({"inputs": [tensor([1], shape="1")]}, "must be a list of integers"),
    ({"inputs": [tensor([1], shape=[True])]}, "must be a list of integers"),
    ({"inputs": [tensor([1], "FLOAT")]}, "unknown datatype 'FLOAT'"),
    ({"inputs": [tensor([1], "fp32")]}, "case-sensitive, use 'FP32'"),
    ({"inputs": [tensor([1], 32)]}, "'datatype' must be a string"),
    ({"inputs": [tensor([1, 2, 3, 4, 5], shape=[2, 3])]}, r"shape \[2, 3\] needs 6 elements, got 5"),
    ({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32"}]}, "exactly one of 'data'"),
    (
        {"inputs": [{**tensor([1]), "parameters": {"binary_data_size": 4}}]},
        "exactly one of 'data'",
    ),
    ({"inputs": [{**tensor([1]), "parameters": []}]}, "'parameters' of input 'x' must be a JSON object"),
    ({"inputs": [tensor([1])], "id": 5}, "'id' must be a string"),
    ({"inputs": [tensor([1])], "parameters": "a"}, "'parameters' of the request must be a JSON object"),
    ({"inputs": [tensor([1])], "parameters": {"binary_data_output": 1}}, "must be true or false"),
    ({"inputs": [tensor([1])], "outputs": {"name": "y"}}, "'outputs' must be a list of objects"),
    ({"inputs": [tensor([1])], "outputs": [{"nom": "y"}]}, "'outputs' must be a list of objects"),
    (
        {"inputs": [tensor([1])], "outputs": [{"name": "y"}, {"name": "y"}]},
        "output 'y' appears more than once",
    ),
    (
        {"inputs": [tensor([1])], "outputs": [{"name": "y", "parameters": {"binary_data": "yes"}}]},
        "'binary_data' of output 'y' must be true or false",
    ),
]


@pytest.mark.parametrize(("document", "message"), ENVELOPE_ERRORS)
def test_bad_envelopes_are_refused(document: Any, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        decode(document)


def test_data_must_be_an_array() -> None:
    with pytest.raises(InvalidInput, match="'data' must be a JSON array"):
        decode({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": 5}]})


DATA_ERRORS = [
    (tensor([300], "UINT8"), r"value 300 is out of range for UINT8 \(0..255\)"),
    (tensor([-1], "UINT32"), "value -1 is out of range for UINT32"),
    (tensor([1, -1, 2**63], "UINT64"), "out of range for UINT64"),
    (tensor([2**64], "UINT64"), "out of range for UINT64"),
    (tensor([2**63], "INT64"), "out of range for INT64"),
    (tensor([1.0, 2**63], "INT64"), "out of range for INT64"),
    (tensor([1.0, -1], "UINT64"), "out of range for UINT64"),
    (tensor([128.0], "INT8"), "out of range for INT8"),
    (tensor([1, 1.5], "INT32"), "INT32 data must be integers, found 1.5"),
    (tensor(["a"], "FP32"), "FP32 data must be numbers, found a string"),
    (tensor([1, None], "INT16"), "INT16 data must be numbers, found null"),
    (tensor([True, False], "FP32"), "FP32 data must be numbers, found true/false"),
    (tensor([1, 0], "BOOL"), "BOOL data must be JSON true/false only"),
    (tensor([1e39], "FP32"), "out of range for FP32"),
    (tensor([70000], "FP16"), "out of range for FP16"),
    (tensor([[1, 2], [3]], "FP32", [3]), "nested deeper than shape"),
    (tensor([[1, 2], [3]], "FP32", [2, 2]), "ragged"),
    (tensor([[1, 2], 3], "FP32", [2, 2]), "ragged"),
    (tensor([["a", "b"], ["c"]], "BYTES", [2, 2]), "ragged"),
    (tensor(["a", 1], "BYTES"), "BYTES data must be JSON strings, found int"),
    (tensor([[[1]]], "FP32", [1, 1]), r"nested deeper than shape \[1, 1\]"),
]


@pytest.mark.parametrize(("document", "message"), DATA_ERRORS)
def test_bad_json_data_is_refused(document: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        decode({"inputs": [document]})


def binary_body(inputs: list[dict[str, Any]], payload: bytes) -> tuple[bytes, int]:
    header = orjson.dumps({"inputs": inputs})
    return header + payload, len(header)


def binary_input(datatype: str, shape: list[int], size: int, name: str = "x") -> dict[str, Any]:
    return {"name": name, "datatype": datatype, "shape": shape, "parameters": {"binary_data_size": size}}


BINARY_ERRORS = [
    ([binary_input("FP32", [2], 8)], b"\0" * 7, "inputs declare 8 bytes, but 7 bytes follow"),
    ([binary_input("FP32", [2], 8)], b"\0" * 9, "inputs declare 8 bytes, but 9 bytes follow"),
    ([binary_input("FP32", [2], 4)], b"\0" * 4, r"binary_data_size is 4, but shape \[2\] of FP32 needs 8"),
    ([binary_input("BOOL", [2], 2)], b"\x01\x02", "BOOL binary data must be bytes 0 or 1"),
    ([binary_input("BYTES", [1], 3)], b"\x01\0\0", "ends inside an element's 4-byte length"),
    ([binary_input("BYTES", [1], 5)], b"\x05\0\0\0a", "runs past binary_data_size"),
    ([binary_input("BYTES", [2], 5)], b"\x01\0\0\0a", "holds 1 elements; shape \\[2\\] needs 2"),
    ([binary_input("BYTES", [1], 10)], b"\x01\0\0\0a\x01\0\0\0b", "leftover bytes"),
    ([binary_input("FP32", [1], -4)], b"", "binary_data_size must be a non-negative integer"),
]


@pytest.mark.parametrize(("inputs", "payload", "message"), BINARY_ERRORS)
def test_bad_binary_data_is_refused(inputs: list[dict[str, Any]], payload: bytes, message: str) -> None:
    body, length = binary_body(inputs, payload)
    with pytest.raises(InvalidInput, match=message):
        decode_infer_request(body, length, LIMITS)


def test_binary_input_without_header_length_is_refused() -> None:
    body, _ = binary_body([binary_input("UINT8", [1], 1)], b"")
    with pytest.raises(InvalidInput, match="no Inference-Header-Content-Length"):
        decode_infer_request(body, None, LIMITS)


@pytest.mark.parametrize(
    ("length", "message"), [(-1, "is -1, but the body has"), (10**6, "but the body has")]
)
def test_bad_header_length_is_refused(length: int, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        decode_infer_request(orjson.dumps({"inputs": [tensor([1])]}), length, LIMITS)


def test_header_length_cutting_the_json_is_refused() -> None:
    with pytest.raises(InvalidInput, match="not valid JSON"):
        decode_infer_request(orjson.dumps({"inputs": [tensor([1])]}), 5, LIMITS)


@pytest.mark.parametrize("value", ["abc", "-3", "1.5", "", "0x10"])
def test_header_length_must_be_an_integer(value: str) -> None:
    with pytest.raises(InvalidInput, match="must be a non-negative integer"):
        parse_header_length(value)


def test_header_length_parses() -> None:
    assert parse_header_length(None) is None
    assert parse_header_length(" 42 ") == 42


@pytest.mark.parametrize("body", [b"", b"{", b"\xff", b"{'a': 1}"])
def test_body_not_json_is_refused(body: bytes) -> None:
    with pytest.raises(InvalidInput, match="not valid JSON"):
        decode_infer_request(body, None, LIMITS)


def test_huge_declared_shape_is_refused_before_allocating() -> None:
    with pytest.raises(TooLarge, match="need 4000000000000 bytes, more than the limit of"):
        decode({"inputs": [tensor([1.0], shape=[10**12])]})
    body, length = binary_body([binary_input("FP64", [10**6, 10**6], 8 * 10**12)], b"")
    with pytest.raises(TooLarge, match="more than the limit"):
        decode_infer_request(body, length, LIMITS)


def test_tensor_limit_sums_inputs_and_counts_bytes() -> None:
    limits = LimitSettings(max_tensor_bytes=16)
    decode({"inputs": [tensor([1.0] * 2, "FP64")]}, limits)
    with pytest.raises(TooLarge, match="need 24 bytes"):
        decode({"inputs": [tensor([1.0] * 2, "FP64"), tensor([1.0], "FP64", name="y")]}, limits)
    with pytest.raises(TooLarge, match="need 20 bytes"):
        decode({"inputs": [tensor(["x" * 20], "BYTES")]}, limits)


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


def test_deep_parameters_are_refused() -> None:
    limits = LimitSettings(max_json_depth=8)
    decode({"inputs": [tensor([1])], "parameters": nested(6)}, limits)
    with pytest.raises(InvalidInput, match="nested 9 levels deep, more than the limit of 8"):
        decode({"inputs": [tensor([1])], "parameters": nested(8)}, limits)
    with pytest.raises(InvalidInput, match="more than the limit of 8"):
        decode({"inputs": [{**tensor([1]), "parameters": nested(6)}]}, limits)
    with pytest.raises(InvalidInput, match="more than the limit of 8"):
        decode({"inputs": [tensor([1])], "extra": [[[[[[[[[1]]]]]]]]]}, limits)


def test_deep_data_is_refused_by_the_depth_limit() -> None:
    limits = LimitSettings(max_json_depth=8)
    decode({"inputs": [tensor([[[[[1]]]]], shape=[1] * 5)]}, limits)
    with pytest.raises(InvalidInput, match="nested 9 levels deep"):
        decode({"inputs": [tensor([[[[[[1]]]]]], shape=[1] * 6)]}, limits)
