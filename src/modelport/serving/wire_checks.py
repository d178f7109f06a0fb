"""Checks every wire format makes the same way, with the same messages (REST and gRPC codecs)."""

from __future__ import annotations

from collections.abc import Iterable

from modelport.core.errors import InvalidInput
from modelport.core.tensors import Datatype

__all__ = ["MAX_DIMS", "check_rank", "check_unique", "input_datatype"]

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


def check_rank(name: str, shape: list[int]) -> None:
    if len(shape) > MAX_DIMS:
        raise InvalidInput(f"input {name!r}: shape has {len(shape)} dimensions, more than {MAX_DIMS}")


def check_unique(names: Iterable[str], kind: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InvalidInput(f"{kind} {name!r} appears more than once")
        seen.add(name)
