"""Which named columns feed which model input: the one rule batch scoring and ``/invocations`` share.

A 1-D input ``age`` (shape ``[-1]``) is the column ``age``. A matrix input ``X`` of shape
``[-1, k]`` is either a list column ``X``, or k feature columns: the ones the caller names (batch's
``--features a,b,c``), else ``X[0]`` … ``X[k-1]``, the names its reference data and drift give them.
Inputs of higher rank come from a list column of their name.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from modelport.core.errors import InvalidInput
from modelport.core.tensors import TensorSpec

__all__ = ["InputColumns", "feature_names_for", "input_columns"]


@dataclass(frozen=True, slots=True)
class InputColumns:
    spec: TensorSpec
    columns: tuple[str, ...]
    """One column per feature; a single list column when ``nested``."""
    nested: bool = False


def feature_names_for(name: str, width: int, *, bare_single: bool = True) -> list[str]:
    """The names of the features of a tensor ``name`` whose rows hold ``width`` values: ``name``
    for one value (unless ``bare_single`` is False), else ``name[0]`` … ``name[width-1]``."""
    if width == 1 and bare_single:
        return [name]
    return [f"{name}[{i}]" for i in range(width)]


def input_columns(
    spec: TensorSpec,
    names: Sequence[str],
    is_list: Callable[[str], bool],
    features: Sequence[str] = (),
    features_option: str | None = "--features",
) -> InputColumns:
    """The columns among ``names`` that feed ``spec``; ``InvalidInput`` says how to name them.

    ``is_list(column)``: the column holds a list per row. ``features`` name a matrix input's columns
    in order; ``features_option`` is how the caller gives them (``None``: it cannot)."""
    rank = len(spec.shape)
    if rank == 2 and features:
        return InputColumns(spec, _checked(spec, list(features), list(names), features_option or "features"))
    if spec.name in names and (rank == 1 or is_list(spec.name)):
        return InputColumns(spec, (spec.name,), nested=rank > 1)
    if rank == 2:
        width = spec.shape[1]
        wanted = feature_names_for(spec.name, width) if width != -1 else _numbered(spec.name, names)
        if wanted and all(name in names for name in wanted):
            return InputColumns(spec, tuple(wanted))
        count = f"{width}" if width != -1 else "its"
        option = f"give {features_option} a,b,..., " if features_option else ""
        raise InvalidInput(
            f"input {spec.name!r} takes {count} feature columns: name them "
            f"{_example(spec)}, {option}or give a list column {spec.name!r}; "
            f"the input's columns are {list(names)}"
        )
    raise InvalidInput(
        f"the input has no column {spec.name!r} for the model's input of that name; "
        f"its columns are {list(names)}"
    )


def _checked(spec: TensorSpec, columns: list[str], names: list[str], source: str) -> tuple[str, ...]:
    width = spec.shape[1]
    if width != -1 and len(columns) != width:
        raise InvalidInput(f"{source} gives {len(columns)} columns but input {spec.name!r} takes {width}")
    missing = [c for c in columns if c not in names]
    if missing:
        raise InvalidInput(
            f"{source} names column {missing[0]!r}, which the input lacks; its columns are {names}"
        )
    return tuple(columns)


def _numbered(name: str, names: Sequence[str]) -> list[str]:
    found: list[str] = []
    while f"{name}[{len(found)}]" in names:
        found.append(f"{name}[{len(found)}]")
    return found


def _example(spec: TensorSpec) -> str:
    width = spec.shape[1]
    if width in (-1, 1, 2):
        return f"{spec.name}[0], {spec.name}[1] ..." if width != 1 else spec.name
    return f"{spec.name}[0] … {spec.name}[{width - 1}]"
