"""Features: the one-dimensional columns drift is measured on, named from a model's signature.

A 1-D tensor ``x`` (or one shaped ``[n, 1]``) is the feature ``x``; a 2-D tensor ``x`` with k
columns is the features ``x[0]`` … ``x[k-1]``. Tensors of higher rank (images, sequences) have no
per-position features and are left out of drift. The same names serve inputs and outputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from modelport.core.columns import feature_names_for
from modelport.core.tensors import TensorSpec

__all__ = [
    "Features",
    "belongs_to",
    "column_array",
    "feature_names",
    "feature_names_for",
    "is_tabular",
    "log_features",
]

Features = dict[str, np.ndarray[Any, Any]]
"""Feature name → one value per row (float64 for numbers, str objects for text)."""


def is_tabular(spec: TensorSpec) -> bool:
    """Rank 1, or rank 2 (a batch of rows with one value per position)."""
    return 1 <= len(spec.shape) <= 2


def feature_names(spec: TensorSpec, width: int) -> list[str]:
    """The names of a tensor's ``width`` features (``width`` comes from the data when the
    signature leaves the second dimension free): a 1-D tensor is one feature, and a 2-D one is
    bare only when its signature fixes one column."""
    if len(spec.shape) == 1:
        return [spec.name]
    return feature_names_for(spec.name, width, bare_single=spec.shape[1] == 1)


def belongs_to(feature: str, tensor: str) -> bool:
    """Whether ``feature`` is one of tensor ``tensor``'s features (``tensor`` or ``tensor[i]``)."""
    if feature == tensor:
        return True
    index = feature.removeprefix(tensor + "[").removesuffix("]")
    return feature.startswith(tensor + "[") and feature.endswith("]") and index.isdigit()


def log_features(table: pa.Table, specs: Sequence[TensorSpec], prefix: str) -> Features:
    """The features in a payload-log table's ``<prefix><tensor name>`` columns.

    A tensor without a column (redacted by ``drop``) or whose rows do not all hold the same
    number of values is left out; a ``hash``-redacted input is a string column, hence categorical.
    """
    features: Features = {}
    for spec in specs:
        column = prefix + spec.name
        if not is_tabular(spec) or column not in table.column_names:
            continue
        features.update(_split(spec, table.column(column).combine_chunks()))
    return features


_LIST_TYPES = (pa.types.is_list, pa.types.is_large_list, pa.types.is_fixed_size_list)


def _split(spec: TensorSpec, array: pa.Array) -> Features:
    if not any(is_list(array.type) for is_list in _LIST_TYPES):  # one value per row
        return {feature_names(spec, 1)[0]: column_array(array)}
    array = array.filter(array.is_valid())
    lengths = pc.list_value_length(array).to_numpy(zero_copy_only=False)
    if len(array) == 0 or (lengths != lengths[0]).any():
        return {}
    width = int(lengths[0])
    flat = column_array(pc.list_flatten(array))
    matrix = flat.reshape(len(array), width)
    return {name: matrix[:, i] for i, name in enumerate(feature_names(spec, width))}


def column_array(array: pa.Array | pa.ChunkedArray) -> np.ndarray[Any, Any]:
    """An Arrow column as numpy: text as ``str`` objects (null as ``"(null)"``; bytes decoded as
    UTF-8, else shown in hex), booleans as ``bool``, integers as integers when there is no null,
    anything else numeric as float64 with null as NaN."""
    kind = array.type
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        return _text(array)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_dictionary(kind):
        text = pc.fill_null(pc.cast(array, pa.large_string()), "(null)")
        return np.asarray(text.to_numpy(zero_copy_only=False))
    if pa.types.is_boolean(kind) and array.null_count == 0:
        return np.asarray(array.to_numpy(zero_copy_only=False), dtype=bool)
    if pa.types.is_integer(kind) and array.null_count == 0:
        return np.asarray(array.to_numpy(zero_copy_only=False))
    return np.asarray(pc.cast(array, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


def _text(array: pa.Array | pa.ChunkedArray) -> np.ndarray[Any, Any]:
    try:
        return column_array(pc.cast(array, pa.large_string()))
    except pa.ArrowInvalid:  # not UTF-8
        return np.array(["(null)" if b is None else b.hex() for b in array.to_pylist()], dtype=object)
