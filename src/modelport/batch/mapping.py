"""Which input columns feed which model input, decided once from the signature and the schema.

A 1-D input ``age`` (shape ``[-1]``) is the column ``age``. A matrix input ``X`` of shape
``[-1, k]`` is either a list column ``X``, or k feature columns: ``--features a,b,c`` when given,
else ``X[0]`` … ``X[k-1]``, the names its reference data and drift give them. Inputs of higher rank
come from a list column of their name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa

from modelport.batch.text_sources import without_malformed
from modelport.core.errors import InvalidInput
from modelport.core.tensors import Signature, TensorSpec
from modelport.monitoring.drift.features import feature_names_for

__all__ = ["ROW_COLUMN", "ColumnMap", "InputColumns", "map_columns"]

ROW_COLUMN = "row"
"""The id column written when no ``--id-column`` is given: the row's index in the input."""


@dataclass(frozen=True, slots=True)
class InputColumns:
    spec: TensorSpec
    columns: tuple[str, ...]
    """One column per feature; a single list column when ``nested``."""
    nested: bool = False


@dataclass(frozen=True, slots=True)
class ColumnMap:
    inputs: tuple[InputColumns, ...]
    ids: tuple[str, ...]
    """Columns passed through to the output; empty: the row index, as ``ROW_COLUMN``."""


def map_columns(
    signature: Signature, schema: pa.Schema, features: Sequence[str] = (), ids: Sequence[str] = ()
) -> ColumnMap:
    """The map for ``schema``; ``InvalidInput`` names the first input that has no columns."""
    schema = without_malformed(schema)
    names = list(schema.names)
    missing_ids = [c for c in ids if c not in names]
    if missing_ids:
        raise InvalidInput(f"id column {missing_ids[0]!r} is not in the input; its columns are {names}")
    outputs = {spec.name for spec in signature.outputs}
    clash = sorted(outputs & (set(ids) or {ROW_COLUMN}))
    if clash:
        raise InvalidInput(f"id column {clash[0]!r} has the name of a model output; choose another id column")
    matrices = [spec for spec in signature.inputs if len(spec.shape) == 2]
    if features and len(matrices) != 1:
        raise InvalidInput(
            "--features names the columns of a model's one matrix input; this model has "
            f"{len(matrices)} inputs of shape [-1, k]"
        )
    return ColumnMap(tuple(_input(spec, schema, features) for spec in signature.inputs), tuple(ids))


def _input(spec: TensorSpec, schema: pa.Schema, features: Sequence[str]) -> InputColumns:
    names = list(schema.names)
    rank = len(spec.shape)
    if rank == 2 and features:
        return InputColumns(spec, _checked(spec, list(features), names, "--features"))
    if spec.name in names and (rank == 1 or _is_list(schema.field(spec.name).type)):
        return InputColumns(spec, (spec.name,), nested=rank > 1)
    if rank == 2:
        width = spec.shape[1]
        wanted = feature_names_for(spec.name, width) if width != -1 else _numbered(spec.name, names)
        if wanted and all(name in names for name in wanted):
            return InputColumns(spec, tuple(wanted))
        count = f"{width}" if width != -1 else "its"
        raise InvalidInput(
            f"input {spec.name!r} takes {count} feature columns: name them "
            f"{_example(spec)}, give --features a,b,..., or give a list column {spec.name!r}; "
            f"the input's columns are {names}"
        )
    raise InvalidInput(
        f"the input has no column {spec.name!r} for the model's input of that name; its columns are {names}"
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


def _numbered(name: str, names: list[str]) -> list[str]:
    found: list[str] = []
    while f"{name}[{len(found)}]" in names:
        found.append(f"{name}[{len(found)}]")
    return found


def _example(spec: TensorSpec) -> str:
    width = spec.shape[1]
    if width in (-1, 1, 2):
        return f"{spec.name}[0], {spec.name}[1] ..." if width != 1 else spec.name
    return f"{spec.name}[0] … {spec.name}[{width - 1}]"


def _is_list(kind: pa.DataType) -> bool:
    return bool(pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind))
