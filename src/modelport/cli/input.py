"""Turning what a person types or points at into registry and inference inputs."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from modelport.core.errors import InvalidInput
from modelport.core.tensors import Signature

__all__ = [
    "parse_json",
    "parse_pairs",
    "read_json_file",
    "read_json_lines",
    "read_predict_input",
    "read_signature",
]


def read_json_file(path: Path, option: str) -> Any:
    """The JSON document in ``path``; unreadable or not JSON is an error naming the option and file."""
    return parse_json(_read_bytes(path, option), f"{option} {path}")


def read_json_lines(path: Path, option: str) -> list[Any]:
    """One JSON value per non-blank line of ``path``."""
    lines = _read_bytes(path, option).splitlines()
    return [parse_json(line, f"{option} {path} line {n}") for n, line in enumerate(lines, 1) if line.strip()]


def parse_json(raw: bytes | str, what: str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"{what} is not valid JSON: {exc}") from None


def read_signature(path: Path) -> Signature:
    """A ``--signature`` file: JSON of ``{"inputs": [...], "outputs": [...]}``."""
    document = read_json_file(path, "--signature")
    try:
        return Signature.from_dict(document)
    except (TypeError, ValueError, KeyError) as exc:  # a shape the parser did not expect
        raise InvalidInput(f"--signature {path} is not a signature: {exc}") from None


def _read_bytes(path: Path, option: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {option} {path}: {exc.strerror}") from None


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
