"""Models trained on a pandas DataFrame take one input per column, in the Open Inference Protocol
way of MLServer's pandas codec: input ``age`` is the column ``age``, shape ``[n]``, with BYTES for
text. The runtime rebuilds the DataFrame the model was fitted on: the fit-time column names and
order, each column in its signature's datatype, categorical columns with their fit-time categories.

pandas is imported here only, on first use: single-matrix models never need it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from modelport.core import Datatype, Signature, TensorSpec
from modelport.runtimes.arrays import get_input

__all__ = ["column_specs", "data_frame", "matrix_frame", "takes_matrix"]


def column_specs(
    columns: Sequence[str], datatypes: Mapping[str, Datatype], default: Datatype
) -> tuple[TensorSpec, ...]:
    """One input of shape ``[-1]`` per column, of ``datatypes[column]`` or else ``default``."""
    return tuple(TensorSpec(name, datatypes.get(name, default), (-1,)) for name in columns)


def takes_matrix(given: Signature | None, columns: Sequence[str] | None) -> bool:
    """Whether a model fitted on ``columns`` keeps a given single matrix input: the signature of a
    version registered before such models took one input per column."""
    return (
        columns is not None
        and given is not None
        and len(given.inputs) == 1
        and len(given.inputs[0].shape) == 2
    )


def matrix_frame(matrix: np.ndarray, columns: Sequence[str]) -> Any:
    """A numeric matrix as the DataFrame of ``columns`` (so that the model does not warn about names)."""
    import pandas as pd

    return pd.DataFrame(matrix, columns=list(columns), copy=False)


def data_frame(
    inputs: Mapping[str, np.ndarray],
    specs: Sequence[TensorSpec],
    columns: Sequence[str],
    categories: Mapping[str, Sequence[Any]] | None = None,
) -> Any:
    """The DataFrame of ``columns``, column i read from the input of ``specs[i]`` (paired by position:
    a given signature may rename inputs). A column of ``categories`` is categorical with exactly those
    categories, in that order, as at fit time; a value outside them is missing, as in the framework."""
    import pandas as pd

    data: dict[str, Any] = {}
    for column, spec in zip(columns, specs, strict=True):
        values = get_input(inputs, spec)
        if categories is not None and column in categories:
            data[column] = _categorical(values, categories[column])
        else:
            data[column] = values
    return pd.DataFrame(data, columns=list(columns), copy=False)


def _categorical(values: np.ndarray, categories: Sequence[Any]) -> Any:
    """``values`` coded by their position in ``categories``; any other value is missing (code -1)."""
    import pandas as pd

    index = {category: code for code, category in enumerate(categories)}
    codes = np.fromiter(
        (index.get(value, -1) for value in values.tolist()), dtype=np.int64, count=len(values)
    )
    return pd.Categorical.from_codes(codes, categories=list(categories))
