"""The frames an isolated model answers with are read as plain, checked arrays: never a pickle, never
more bytes than declared, never an array whose bytes disagree with its shape."""

from __future__ import annotations

import io
import json
import struct
from typing import Any

import numpy as np
import pytest

from modelport.runtimes.frames import FrameError, decode_arrays, encode_frame, read_frame


def reader(data: bytes) -> Any:
    stream = io.BytesIO(data)

    def read_exact(size: int) -> bytes:
        chunk = stream.read(size)
        assert len(chunk) == size, "read past the frame"
        return chunk

    return read_exact


def roundtrip(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    header, payload = read_frame(reader(encode_frame({"ok": True}, arrays)), 1 << 20)
    assert header["ok"] is True
    return decode_arrays(header, payload)


def frame(header: dict[str, Any], payload: bytes = b"") -> bytes:
    body = json.dumps(header).encode()
    return struct.pack("<I", len(body)) + body + payload


def test_numbers_and_strings_come_back_as_sent() -> None:
    sent = {
        "label": np.array([0, 2, 1], dtype=np.int64),
        "probabilities": np.random.RandomState(0).rand(3, 3),
        "flags": np.array([True, False, True]),
        "names": np.array([b"setosa", b"", b"virginica"], dtype=object),
        "scalar": np.float32(1.5) * np.ones(()),
    }
    received = roundtrip(sent)
    assert received.keys() == sent.keys()
    for name, value in sent.items():
        np.testing.assert_array_equal(received[name], value)
        assert received[name].shape == value.shape
    assert received["names"].dtype == object and received["names"][2] == b"virginica"


def test_unicode_labels_travel_as_utf8_bytes() -> None:
    assert roundtrip({"label": np.array(["ä", "b"])})["label"].tolist() == ["ä".encode(), b"b"]


@pytest.mark.parametrize(
    ("item", "payload", "problem"),
    [
        ({"name": "x", "dtype": "|O", "shape": [1], "nbytes": 8}, b"\0" * 8, "dtype"),
        ({"name": "x", "dtype": "<V8", "shape": [1], "nbytes": 8}, b"\0" * 8, "dtype"),
        ({"name": "x", "dtype": "<f8", "shape": [2], "nbytes": 8}, b"\0" * 8, "shape"),
        ({"name": "x", "dtype": "<f8", "shape": [-1], "nbytes": 8}, b"\0" * 8, "bad shape"),
        ({"name": "x", "dtype": "<f8", "shape": [1] * 40, "nbytes": 8}, b"\0" * 8, "bad shape"),
        ({"name": "x", "dtype": "no such dtype", "shape": [1], "nbytes": 8}, b"\0" * 8, "dtype"),
        ({"name": "x", "dtype": "strings", "shape": [2], "nbytes": 4}, b"\0" * 4, "shorter"),
        (
            {"name": "x", "dtype": "strings", "shape": [1], "nbytes": 6},
            struct.pack("<I", 5) + b"ab",
            "lengths",
        ),
        ({"name": 3, "dtype": "<f8", "shape": [1], "nbytes": 8}, b"\0" * 8, "name"),
        ({"name": "x", "dtype": "<f8", "shape": [1], "nbytes": -8}, b"", "byte count"),
    ],
)
def test_an_array_that_disagrees_with_its_description_is_refused(
    item: dict[str, Any], payload: bytes, problem: str
) -> None:
    with pytest.raises(FrameError, match=problem):
        decode_arrays(*read_frame(reader(frame({"arrays": [item]}, payload)), 1 << 20))


def test_a_payload_over_the_limit_is_refused_before_it_is_read() -> None:
    item = {"name": "x", "dtype": "<f8", "shape": [1 << 30], "nbytes": 8 << 30}
    with pytest.raises(FrameError, match="limit"):
        read_frame(reader(frame({"arrays": [item]})), 1 << 20)  # the reader would fail past the header


def test_a_huge_header_is_refused_before_it_is_read() -> None:
    with pytest.raises(FrameError, match="header"):
        read_frame(reader(struct.pack("<I", 1 << 31)), 1 << 20)


@pytest.mark.parametrize("body", [b"[1, 2]", b"not json", json.dumps({"arrays": "x"}).encode()])
def test_a_header_that_is_not_an_object_with_a_list_is_refused(body: bytes) -> None:
    with pytest.raises(FrameError):
        read_frame(reader(struct.pack("<I", len(body)) + body), 1 << 20)
