"""One chunk scored: a pure function of the loaded model and the chunk's rows, so that any engine
(this process's threads, or a worker elsewhere) produces the same part for the same rows.

Inputs are checked by the online path's ``validate_request`` before the model runs. When the model
refuses a whole chunk (``InvalidInput``), its rows are tried one by one, so that only the bad ones
are reported. With an explainer, the scored rows' attributions follow the outputs (``explain.columns``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from modelport.batch.chunks import Chunk
from modelport.batch.convert import BadRows, chunk_inputs
from modelport.batch.mapping import ROW_COLUMN, ColumnMap, feature_columns
from modelport.batch.text_sources import MALFORMED_COLUMN
from modelport.core.errors import InvalidInput
from modelport.core.inference import InferenceRequest
from modelport.explanations.attributions import Explainer
from modelport.explanations.columns import attribution_columns
from modelport.runtimes.base import LoadedModel
from modelport.serving.validation import validate_request

__all__ = ["RowError", "Scored", "score_chunk"]


@dataclass(frozen=True, slots=True)
class RowError:
    row: int
    """The row's index in the input."""
    ids: Mapping[str, Any]
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, **({"ids": dict(self.ids)} if self.ids else {}), "reason": self.reason}

    def message(self) -> str:
        ids = ", ".join(f"{k}={v!r}" for k, v in self.ids.items())
        return f"row {self.row}{f' ({ids})' if ids else ''}: {self.reason}"


@dataclass(frozen=True, slots=True)
class Scored:
    chunk: Chunk
    table: pa.Table
    """The id columns and one column per model output, for the rows that were scored."""
    errors: tuple[RowError, ...]


def score_chunk(
    model: LoadedModel, target: str, mapping: ColumnMap, chunk: Chunk, explainer: Explainer | None = None
) -> Scored:
    inputs, bad = chunk_inputs(chunk.table, mapping)
    bad.update(_malformed(chunk.table))
    keep = np.ones(chunk.table.num_rows, dtype=bool)
    keep[list(bad)] = False
    good = {name: array[keep] for name, array in inputs.items()}
    try:
        outputs = _predict(model, target, good)
    except InvalidInput:
        outputs = _row_by_row(model, target, good, np.flatnonzero(keep), bad)
        keep[list(bad)] = False
    ids = _ids(chunk, mapping)
    errors = tuple(
        RowError(chunk.start + row, _id_values(ids, row, mapping), reason)
        for row, reason in sorted(bad.items())
    )
    table = ids.filter(pa.array(keep)) if not keep.all() else ids
    for name, values in outputs.items():
        table = table.append_column(name, _arrow(values))
    if explainer is not None and keep.any():
        for name, column in _explained(explainer, model, target, mapping, inputs, keep).items():
            table = table.append_column(name, column)
    return Scored(chunk, table, errors)


def _explained(
    explainer: Explainer,
    model: LoadedModel,
    target: str,
    mapping: ColumnMap,
    inputs: dict[str, np.ndarray],
    keep: np.ndarray,
) -> dict[str, pa.Array]:
    request = InferenceRequest({name: array[keep] for name, array in inputs.items()})
    validate_request(request, model.signature, target)
    attributions = explainer.explain(request.inputs)
    return attribution_columns(attributions, feature_columns(mapping, attributions.values.shape[2]))


def _malformed(table: pa.Table) -> BadRows:
    """The rows that were lines the reader could not parse, with why (``text_sources``)."""
    if MALFORMED_COLUMN not in table.column_names:
        return {}
    reasons = table.column(MALFORMED_COLUMN)
    if reasons.null_count == len(reasons):
        return {}
    return {row: reason for row, reason in enumerate(reasons.to_pylist()) if reason is not None}


def _predict(model: LoadedModel, target: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    request = InferenceRequest(inputs)
    validate_request(request, model.signature, target)
    outputs = model.predict(request.inputs)
    return {spec.name: outputs[spec.name] for spec in model.signature.outputs}


def _row_by_row(
    model: LoadedModel, target: str, inputs: dict[str, np.ndarray], rows: np.ndarray, bad: BadRows
) -> dict[str, np.ndarray]:
    """Each row alone; a refused one joins ``bad`` (``rows`` maps positions in ``inputs`` to the chunk)."""
    answers: list[dict[str, np.ndarray]] = []
    for position, row in enumerate(rows):
        try:
            answers.append(
                _predict(model, target, {k: v[position : position + 1] for k, v in inputs.items()})
            )
        except InvalidInput as error:
            bad[int(row)] = error.message
    if not answers:
        return {
            spec.name: np.empty((0, *(max(d, 0) for d in spec.shape[1:])), spec.datatype.numpy_dtype)
            for spec in model.signature.outputs
        }
    return {name: np.concatenate([a[name] for a in answers]) for name in answers[0]}


def _ids(chunk: Chunk, mapping: ColumnMap) -> pa.Table:
    if mapping.ids:
        return chunk.table.select(list(mapping.ids))
    rows = np.arange(chunk.start, chunk.start + chunk.table.num_rows, dtype=np.int64)
    return pa.table({ROW_COLUMN: rows})


def _id_values(ids: pa.Table, row: int, mapping: ColumnMap) -> dict[str, Any]:
    return {name: ids.column(name)[row].as_py() for name in mapping.ids}


def _arrow(values: np.ndarray) -> pa.Array:
    """One output as a column: a list column for rows of several values, text for BYTES."""
    if values.dtype == object:
        values = np.array(
            [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in values.ravel()],
            dtype=object,
        ).reshape(values.shape)
    if values.ndim <= 1:
        return pa.array(values)
    array: pa.Array = pa.array(values.reshape(-1))
    for size in reversed(values.shape[1:]):  # [n, a, b]: n lists of a lists of b values
        array = pa.FixedSizeListArray.from_arrays(array, size)
    return array
