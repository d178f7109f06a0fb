"""Attributions as output columns, one per feature and explained output, beside the predictions.

With one explained output (a regressor, a binary classifier's raw score): ``explain.<feature>`` per
feature and ``explain.base``. With several (one per class, or per target): ``explain.<output>.<feature>``
and ``explain.<output>.base``, ``<output>`` being the class label or ``name[i]``. Flat float columns
read the same in Parquet, CSV and JSONL, and ``base`` plus a row's feature columns is what was explained.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from modelport.explanations.attributions import Attributions

__all__ = ["PREFIX", "attribution_columns"]

PREFIX = "explain."


def attribution_columns(attributions: Attributions, features: list[str]) -> dict[str, pa.Array]:
    """The columns, in order; ``features`` names the attributions' features."""
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
