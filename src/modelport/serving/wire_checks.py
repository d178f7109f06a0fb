"""Checks every wire format makes the same way, with the same messages (REST and gRPC codecs)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from modelport.core.errors import InternalError, InvalidInput, TooLarge
from modelport.core.inference import RequestedOutput
from modelport.core.tensors import Datatype

__all__ = [
    "MAX_DIMS",
    "check_requested_outputs",
    "check_shape",
    "check_tensor_bytes",
    "check_unique",
    "input_datatype",
    "output_datatype",
]

MAX_DIMS = 32
"""Most dimensions an input tensor may have."""


def input_datatype(name: str, value: object) -> Datatype:
    """The datatype an input declares; a wrong case gets a hint, anything else the list of choices."""
    if not isinstance(value, str):
        raise InvalidInput(f"input {name!r}: 'datatype' must be a string such as \"FP32\"")
    if value not in Datatype.__members__ and value.upper() in Datatype.__members__:
        raise InvalidInput(
            f"input {name!r}: unknown datatype {value!r}; datatypes are case-sensitive, use {value.upper()!r}"
        )
    try:
        return Datatype.parse(value)
    except InvalidInput as exc:
        raise InvalidInput(f"input {name!r}: {exc.message}") from None


def output_datatype(name: str, array: np.ndarray) -> Datatype:
    """The datatype an output is sent as; a dtype no protocol carries is the server's failure (500 /
    ``INTERNAL``), not the caller's."""
    try:
        return Datatype.from_numpy(array.dtype)
    except InvalidInput:
        raise InternalError(
            f"output {name!r} has dtype {array.dtype}, which has no protocol datatype"
        ) from None


def check_shape(name: str, shape: list[int]) -> None:
    """No negative dimension (a request's shape is concrete), at most ``MAX_DIMS`` of them."""
    if any(d < 0 for d in shape):
        raise InvalidInput(f"input {name!r}: shape {shape} has a negative dimension; sizes must be >= 0")
    if len(shape) > MAX_DIMS:
        raise InvalidInput(f"input {name!r}: shape has {len(shape)} dimensions, more than {MAX_DIMS}")


def check_tensor_bytes(total: int, limit: int) -> None:
    """The byte budget of a request's tensors (``limits.max_tensor_bytes``), checked before allocating."""
    if total > limit:
        raise TooLarge(f"the request's tensors need {total} bytes, more than the limit of {limit}")


def check_unique(names: Iterable[str], kind: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InvalidInput(f"{kind} {name!r} appears more than once")
        seen.add(name)


def check_requested_outputs(requested: Sequence[RequestedOutput], outputs: Mapping[str, object]) -> None:
    """Every output the request names is among the response's ``outputs``."""
    for item in requested:
        if item.name not in outputs:
            known = ", ".join(map(repr, outputs))
            raise InvalidInput(f"unknown output {item.name!r}; the model's outputs are {known}")
