"""Attributions as output columns, one per feature and explained output, beside the predictions.

With one explained output (a regressor, a binary classifier's raw score): ``explain.<feature>`` per
feature and ``explain.base``. With several (one per class, or per target): ``explain.<output>.<feature>``
and ``explain.<output>.base``, ``<output>`` being the class label or ``name[i]``. Flat float columns
read the same in Parquet, CSV and JSONL, and ``base`` plus a row's feature columns is what was explained.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from modelport.batch.mapping import ColumnMap
from modelport.explanations.attributions import Attributions
from modelport.monitoring.drift.features import feature_names_for

__all__ = ["PREFIX", "attribution_columns", "feature_names"]

PREFIX = "explain."


def feature_names(mapping: ColumnMap, count: int) -> list[str]:
    """The names of the ``count`` features: the input columns that fed them."""
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


def attribution_columns(attributions: Attributions, features: list[str]) -> dict[str, pa.Array]:
    values, base = attributions.values, attributions.base
    single = len(attributions.outputs) == 1
    columns: dict[str, pa.Array] = {}
    rows = len(values)
    for k, output in enumerate(attributions.outputs):
        prefix = PREFIX if single else f"{PREFIX}{output}."
        for j, feature in enumerate(features):
            columns[f"{prefix}{feature}"] = pa.array(values[:, k, j])
        columns[f"{prefix}base"] = pa.array(np.full(rows, base[k]))
    return columns
