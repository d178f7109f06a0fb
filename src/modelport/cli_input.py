"""Turning what a person types or points at into registry and inference inputs."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import orjson

from modelport.core.errors import InvalidInput

__all__ = ["parse_pairs", "read_predict_input"]


def parse_pairs(pairs: Iterable[str], option: str) -> dict[str, str]:
    """``["k=v", ...]`` to a dict; a pair without ``=`` is an error naming the option."""
    result = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidInput(f"{option} takes key=value, got {pair!r}")
        result[key] = value
    return result


def read_predict_input(raw: bytes, metadata: dict[str, Any]) -> dict[str, Any]:
    """An Open Inference Protocol request from a full request, a ``{name: data}`` map or bare data."""
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"the input is not valid JSON: {exc}") from None
    if isinstance(document, dict) and "inputs" in document:
        return document
    specs = {spec["name"]: spec for spec in metadata.get("inputs", [])}
    if isinstance(document, list):
        if len(specs) != 1:
            raise InvalidInput(f"the model takes {len(specs)} inputs; give them as {{name: data}}")
        document = {next(iter(specs)): document}
    if not isinstance(document, dict):
        raise InvalidInput("the input must be a JSON list, an object of {input name: data}, or a request")
    return {"inputs": [_tensor(name, data, specs) for name, data in document.items()]}


def _tensor(name: str, data: Any, specs: dict[str, Any]) -> dict[str, Any]:
    spec = specs.get(name)
    if spec is None:
        raise InvalidInput(f"the model has no input {name!r}; its inputs are {sorted(specs)}")
    shape = list(np.shape(data))
    if len(spec["shape"]) == len(shape) + 1:
        shape = [1, *shape]  # one row given without its batch dimension
    return {"name": name, "datatype": spec["datatype"], "shape": shape, "data": data}
