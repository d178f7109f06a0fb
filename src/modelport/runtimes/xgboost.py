"""XGBoost boosters in their native formats (``.json``, ``.ubj``).

A booster fitted on a DataFrame keeps its column names and types: it takes one input per column
(``columns.py``), FP32 for numbers, INT64 for integers, and BYTES for a categorical column whose
categories the file keeps (XGBoost 3.1+); a categorical column whose categories it does not keep
(trained on codes, or an older file) takes the category's code, INT64. A version registered with
one matrix input keeps it.

A classifier (``binary:logistic``, ``multi:softprob``, ``multi:softmax``) gives ``label`` and
``probabilities`` (``classes.py``); the file does not keep class names, so its classes are
0 … k-1 unless the registered signature names them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xgboost

from modelport.core import Datatype, NotReady, Signature, TensorSpec
from modelport.runtimes.arrays import matrix, rename_signature
from modelport.runtimes.base import LoadedModel, LoadOptions
from modelport.runtimes.classes import ClassLabels, classifier_outputs, classifier_signature
from modelport.runtimes.columns import column_specs, data_frame, takes_matrix
from modelport.runtimes.errors import FrameworkErrors, invalid_model_errors

__all__ = ["XGBoostModel", "XGBoostRuntime"]

_PREDICT_ERRORS = FrameworkErrors("xgboost")

_CLASSIFIERS = frozenset({"binary:logistic", "multi:softprob", "multi:softmax"})
_TYPES = {"int": Datatype.INT64, "i": Datatype.BOOL}


class XGBoostRuntime:
    framework = "xgboost"

    def load(self, artifact: Path, options: LoadOptions) -> LoadedModel:
        with invalid_model_errors(self.framework, artifact):
            booster = xgboost.Booster(model_file=str(artifact))
            booster.set_param({"nthread": options.threads})
            config = json.loads(booster.save_config())
            names = booster.feature_names
            columns = None if names is None or takes_matrix(options.signature, names) else list(names)
            categories = _categories(booster) if columns is not None else {}
            default = _signature(booster, config, columns, categories)
        if not _is_classifier(config):
            signature, classes = rename_signature(options.signature, default, self.framework), None
        else:
            legacy = Signature(default.inputs, (TensorSpec("prediction", Datatype.FP32, _raw_shape(config)),))
            signature, classes = classifier_signature(options.signature, default, legacy, self.framework)
        margin = classes is not None and _is_classifier(config, "multi:softmax")
        return XGBoostModel(booster, signature, columns, categories, classes, margin=margin)


class XGBoostModel:
    """A booster; ``inplace_predict`` is thread-safe."""

    def __init__(
        self,
        booster: xgboost.Booster,
        signature: Signature,
        columns: list[str] | None,
        categories: dict[str, list[Any]],
        classes: ClassLabels | None,
        *,
        margin: bool,
    ) -> None:
        """``margin``: predict raw scores (``multi:softmax``, whose values are class indices)."""
        self._booster: xgboost.Booster | None = booster
        self._signature = signature
        self._columns = columns
        self._categories = categories
        self._classes = classes
        self._margin = margin

    @property
    def signature(self) -> Signature:
        return self._signature

    @property
    def native(self) -> xgboost.Booster:
        """The booster (for explanations: its own contributions)."""
        if self._booster is None:
            raise NotReady("the model is closed")
        return self._booster

    def features(self, inputs: Mapping[str, np.ndarray]) -> Any:
        """``inputs`` as the booster takes them: an FP32 matrix, or its DataFrame."""
        if self._columns is None:
            return matrix(inputs, self._signature).astype(np.float32, copy=False)
        return data_frame(inputs, self._signature.inputs, self._columns, self._categories)

    def predict(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        booster = self.native
        features = self.features(inputs)
        with _PREDICT_ERRORS:
            kind = "margin" if self._margin else "value"
            prediction = np.asarray(booster.inplace_predict(features, predict_type=kind), dtype=np.float32)
        if self._classes is None:
            return {self._signature.outputs[0].name: prediction}
        return self._classes.outputs(_probabilities(prediction, self._margin))

    def close(self) -> None:
        self._booster = None


def _probabilities(prediction: np.ndarray, margin: bool) -> np.ndarray:
    """Per-class probabilities: ``[1 - p, p]`` when binary, a softmax of ``multi:softmax``'s margins."""
    if prediction.ndim == 1:
        return np.column_stack([1.0 - prediction.astype(np.float64), prediction])
    if margin:
        shifted = np.exp(prediction - prediction.max(axis=1, keepdims=True))
        return np.asarray(shifted / shifted.sum(axis=1, keepdims=True))
    return prediction


def _is_classifier(config: dict[str, Any], *objectives: str) -> bool:
    return config["learner"]["objective"]["name"] in (objectives or _CLASSIFIERS)


def _categories(booster: xgboost.Booster) -> dict[str, list[Any]]:
    """The categories of each categorical column as the file keeps them (XGBoost 3.1+)."""
    get_categories = getattr(booster, "get_categories", None)
    if get_categories is None:
        return {}
    kept = get_categories(export_to_arrow=True)
    if kept.empty():
        return {}
    return {name: values.to_pylist() for name, values in kept.to_arrow() if values is not None}


def _signature(
    booster: xgboost.Booster,
    config: dict[str, Any],
    names: list[str] | None,
    categories: dict[str, list[Any]],
) -> Signature:
    if names is None:
        inputs: tuple[TensorSpec, ...] = (TensorSpec("input", Datatype.FP32, (-1, booster.num_features())),)
    else:
        types = dict(zip(names, booster.feature_types or [], strict=False))
        datatypes = {name: _TYPES.get(kind, Datatype.FP32) for name, kind in types.items()}
        for name, kind in types.items():
            if kind == "c":
                datatypes[name] = Datatype.BYTES if _all_text(categories.get(name)) else Datatype.INT64
        inputs = column_specs(names, datatypes, Datatype.FP32)
    if _is_classifier(config):
        return Signature(inputs=inputs, outputs=classifier_outputs(list(range(max(_n_outputs(config), 2)))))
    return Signature(inputs=inputs, outputs=(TensorSpec("prediction", Datatype.FP32, _raw_shape(config)),))


def _raw_shape(config: dict[str, Any]) -> tuple[int, ...]:
    n_outputs = _n_outputs(config)
    return (-1,) if n_outputs == 1 else (-1, n_outputs)


def _all_text(values: list[Any] | None) -> bool:
    return bool(values) and all(isinstance(value, str) for value in values or [])


def _n_outputs(config: dict[str, Any]) -> int:
    """Columns of ``inplace_predict``'s result: classes for ``multi:*``, else targets."""
    learner = config["learner"]
    params = learner.get("learner_model_param", {})
    if learner["objective"]["name"] in ("multi:softprob", "multi:softmax"):
        return int(params.get("num_class", 1))
    return max(1, int(params.get("num_target", 1)))
