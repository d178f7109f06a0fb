"""XGBoost's and LightGBM's own TreeSHAP: ``pred_contribs`` / ``pred_contrib``.

Both explain the raw score (``output_margin`` / ``raw_score``): a regressor's prediction (before any
link: a ``count:poisson`` or ``reg:logistic`` model's log), a binary classifier's log-odds of its
positive class, and a multi-class model's score of each class. The framework's last column, the
bias, is the base value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from modelport.explanations.attributions import Attributions, class_labels, output_keys
from modelport.runtimes.errors import FrameworkErrors

__all__ = ["LightGBMExplainer", "XGBoostExplainer"]


class XGBoostExplainer:
    def __init__(self, model: Any) -> None:
        """``model``: a runtime ``XGBoostModel``."""
        self._model = model

    def explain(self, inputs: Mapping[str, np.ndarray]) -> Attributions:
        import xgboost

        features = self._model.features(inputs)
        with FrameworkErrors("xgboost"):
            data = xgboost.DMatrix(features, enable_categorical=not isinstance(features, np.ndarray))
            contributions = self._model.native.predict(data, pred_contribs=True)
        return _attributions(self._model, np.asarray(contributions, dtype=np.float64))


class LightGBMExplainer:
    def __init__(self, model: Any) -> None:
        """``model``: a runtime ``LightGBMModel``."""
        self._model = model

    def explain(self, inputs: Mapping[str, np.ndarray]) -> Attributions:
        booster = self._model.native
        features = self._model.features(inputs)
        with FrameworkErrors("lightgbm"):
            flat = booster.predict(features, pred_contrib=True, num_threads=self._model.threads)
        per_output = booster.num_model_per_iteration()
        contributions = np.asarray(flat, dtype=np.float64).reshape(len(flat), per_output, -1)
        return _attributions(self._model, contributions)


def _attributions(model: Any, contributions: np.ndarray) -> Attributions:
    """``contributions``: ``[rows, features + 1]`` or ``[rows, outputs, features + 1]``, bias last."""
    if contributions.ndim == 2:
        contributions = contributions[:, np.newaxis, :]
    width = contributions.shape[1]
    bias = contributions[:, :, -1]
    base = bias[0] if len(bias) else np.zeros(width)
    return Attributions(contributions[:, :, :-1], base, _outputs(model, width))


def _outputs(model: Any, width: int) -> tuple[str, ...]:
    labels = class_labels(model.signature)
    if labels is not None and len(labels) == width:
        return tuple(labels)
    if labels is not None and width == 1 and len(labels) == 2:
        return (labels[1],)
    return output_keys(model.signature.outputs[0], width)
