"""Which input columns feed which model input, decided once from the signature and the schema.

The rule itself (``core/columns.py``) is the one ``/invocations`` uses too; here it meets a file's
schema, with ``--features`` and the id columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa

from modelport.batch.text_sources import without_malformed
from modelport.core.columns import InputColumns, feature_names_for, input_columns
from modelport.core.errors import InvalidInput
from modelport.core.tensors import Signature, TensorSpec

__all__ = ["ROW_COLUMN", "ColumnMap", "InputColumns", "feature_columns", "map_columns"]

ROW_COLUMN = "row"
"""The id column written when no ``--id-column`` is given: the row's index in the input."""


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


def feature_columns(mapping: ColumnMap, count: int) -> list[str]:
    """The names of the model's ``count`` features, in the signature's order: the columns that fed
    them (``name[i]`` for a list column's values)."""
    names: list[str] = []
    for given in mapping.inputs:
        if not given.nested:
            names.extend(given.columns)
        elif len(given.spec.shape) == 2:
            width = given.spec.shape[1] if given.spec.shape[1] != -1 else count - len(names)
            names.extend(feature_names_for(given.spec.name, width))
        else:
            names.append(given.spec.name)
    return names if len(names) == count else feature_names_for("feature", count, bare_single=False)


def _input(spec: TensorSpec, schema: pa.Schema, features: Sequence[str]) -> InputColumns:
    return input_columns(spec, schema.names, lambda name: _is_list(schema.field(name).type), features)


def _is_list(kind: pa.DataType) -> bool:
    return bool(pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind))
