"""In-process scoring of data already in memory (``modelport.predict``): a pandas DataFrame, a
pyarrow Table or a numpy array, mapped and checked as a batch job's chunk is, answered in kind.

A numpy array feeds a model's one input; the answer is the output's array, or, for several outputs,
a structured array with one field per output (``result["probabilities"]``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from modelport.batch.chunks import Chunk
from modelport.batch.mapping import ROW_COLUMN, map_columns
from modelport.batch.scoring import score_chunk
from modelport.core.errors import InvalidInput
from modelport.explanations.attributions import Explainer
from modelport.monitoring.drift.features import feature_names_for
from modelport.runtimes.base import LoadedModel

__all__ = ["predict_data"]


def predict_data(
    model: LoadedModel,
    target: str,
    data: Any,
    features: tuple[str, ...] = (),
    explainer: Explainer | None = None,
) -> Any:
    """``data`` scored by ``model`` (with ``explainer``'s attribution columns after the outputs);
    the first bad row raises ``InvalidInput`` naming it."""
    if isinstance(data, pa.Table):
        return _scored(model, target, data, features, explainer)
    if isinstance(data, np.ndarray):
        return _from_table(_scored(model, target, _array_table(model, data), features, explainer), model)
    if type(data).__name__ == "DataFrame" and hasattr(data, "columns"):
        table = pa.Table.from_pandas(data, preserve_index=False)
        frame = _scored(model, target, table, features, explainer).to_pandas()
        frame.index = data.index
        return frame
    raise InvalidInput(
        f"predict takes a pandas DataFrame, a pyarrow Table or a numpy array, not {type(data).__name__}"
    )


def _scored(
    model: LoadedModel, target: str, table: pa.Table, features: tuple[str, ...], explainer: Explainer | None
) -> pa.Table:
    mapping = map_columns(model.signature, table.schema, features)
    result = score_chunk(model, target, mapping, Chunk(0, 0, table), explainer)
    if result.errors:
        raise InvalidInput(result.errors[0].message())
    return result.table.drop_columns([ROW_COLUMN])


def _array_table(model: LoadedModel, array: np.ndarray) -> pa.Table:
    inputs = model.signature.inputs
    if len(inputs) != 1:
        raise InvalidInput(f"{len(inputs)} inputs: give a table or DataFrame with a column per input")
    spec = inputs[0]
    if array.ndim == 1 or len(spec.shape) == 1:
        return pa.table({spec.name: array})
    if array.ndim == 2 and len(spec.shape) == 2:
        names = feature_names_for(spec.name, array.shape[1])
        return pa.table({name: array[:, i] for i, name in enumerate(names)})
    rows = array.reshape(len(array), -1)
    flat = pa.FixedSizeListArray.from_arrays(pa.array(rows.reshape(-1)), rows.shape[1])
    return pa.table({spec.name: flat})


def _from_table(table: pa.Table, model: LoadedModel) -> np.ndarray:
    arrays = {name: _numpy(table.column(name)) for name in table.column_names}
    if len(arrays) == 1:
        return next(iter(arrays.values()))
    dtype = np.dtype([(name, a.dtype, a.shape[1:]) for name, a in arrays.items()])
    result = np.empty(table.num_rows, dtype=dtype)
    for name, values in arrays.items():
        result[name] = values
    return result


def _numpy(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_fixed_size_list(array.type):
        inner = _numpy(array.flatten())
        return inner.reshape(len(array), array.type.list_size, *inner.shape[1:])
    return np.asarray(array.to_numpy(zero_copy_only=False))
