"""A version's reference data as checked model inputs: the background the sampling explainer
compares rows with (``explanations/sampling.py``). A table's columns map to inputs as a batch
input's do."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from modelport.batch.convert import chunk_inputs
from modelport.batch.mapping import map_columns
from modelport.core.errors import InvalidInput
from modelport.core.inference import InferenceRequest
from modelport.runtimes.base import LoadedModel
from modelport.serving.validation import validate_request

__all__ = ["reference_inputs"]


def reference_inputs(model: LoadedModel, target: str, data: np.ndarray | pa.Table) -> dict[str, np.ndarray]:
    """``data`` as checked inputs of ``model``; rows it cannot take are left out."""
    if isinstance(data, np.ndarray):
        inputs = model.signature.inputs
        if len(inputs) != 1:
            raise InvalidInput(
                f"{target}'s reference data is one array but the model takes {len(inputs)} inputs"
            )
        arrays = {inputs[0].name: data.astype(inputs[0].datatype.numpy_dtype, copy=False)}
    else:
        arrays, bad = chunk_inputs(data, map_columns(model.signature, data.schema))
        keep = np.ones(data.num_rows, dtype=bool)
        keep[list(bad)] = False
        arrays = {name: array[keep] for name, array in arrays.items()}
    if not len(next(iter(arrays.values()))):
        raise InvalidInput(f"{target}'s reference data has no row the model takes")
    request = InferenceRequest(arrays)
    validate_request(request, model.signature, target)
    return dict(request.inputs)
