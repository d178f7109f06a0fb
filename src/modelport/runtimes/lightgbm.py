"""LightGBM boosters in their text format (``.txt``, ``.lgb``).

A booster fitted on a DataFrame keeps its column names (not LightGBM's ``Column_<i>``) and its
categorical columns' categories (``pandas_categorical``): it takes one input per column
(``columns.py``), FP64 for numbers, BYTES for a categorical column of text and INT64 for one of
integers. A classifier (``binary``, ``multiclass``, ``multiclassova``) gives ``label`` and
``probabilities`` (``classes.py``); the file does not keep class names, so its classes are
0 … k-1 unless the registered signature names them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import lightgbm
import numpy as np

from modelport.core import Datatype, NotReady, Signature, TensorSpec
from modelport.runtimes.arrays import matrix, rename_signature
from modelport.runtimes.base import LoadedModel, LoadOptions
from modelport.runtimes.classes import ClassLabels, classifier_outputs, classifier_signature
from modelport.runtimes.columns import column_specs, data_frame, takes_matrix
from modelport.runtimes.errors import FrameworkErrors, invalid_model_errors

__all__ = ["LightGBMModel", "LightGBMRuntime"]

_PREDICT_ERRORS = FrameworkErrors("lightgbm")

_CLASSIFIERS = frozenset({"binary", "multiclass", "multiclassova"})
_UNNAMED = re.compile(r"Column_\d+")


class LightGBMRuntime:
    framework = "lightgbm"

    def load(self, artifact: Path, options: LoadOptions) -> LoadedModel:
        with invalid_model_errors(self.framework, artifact):
            booster = lightgbm.Booster(model_file=str(artifact))
            columns = _columns(booster)
            columns = None if takes_matrix(options.signature, columns) else columns
            categories = _categories(booster, columns) if columns is not None else {}
            default = _signature(booster, columns, categories)
        if not _is_classifier(booster):
            signature, classes = rename_signature(options.signature, default, self.framework), None
        else:
            legacy = Signature(
                default.inputs, (TensorSpec("prediction", Datatype.FP64, _raw_shape(booster)),)
            )
            signature, classes = classifier_signature(options.signature, default, legacy, self.framework)
        return LightGBMModel(booster, signature, options, columns, categories, classes)


class LightGBMModel:
    """A booster; each ``predict`` builds its own predictor over the shared, read-only trees."""

    def __init__(
        self,
        booster: lightgbm.Booster,
        signature: Signature,
        options: LoadOptions,
        columns: list[str] | None,
        categories: dict[str, list[Any]],
        classes: ClassLabels | None,
    ) -> None:
        self._booster: lightgbm.Booster | None = booster
        self._signature = signature
        self._threads = options.threads
        self._columns = columns
        self._categories = categories
        self._classes = classes

    @property
    def signature(self) -> Signature:
        return self._signature

    @property
    def native(self) -> lightgbm.Booster:
        """The booster (for explanations: its own contributions)."""
        if self._booster is None:
            raise NotReady("the model is closed")
        return self._booster

    @property
    def threads(self) -> int:
        return self._threads

    def features(self, inputs: Mapping[str, np.ndarray]) -> Any:
        """``inputs`` as the booster takes them: a float matrix, or its DataFrame."""
        if self._columns is None:
            features = matrix(inputs, self._signature)
            return features if features.dtype in (np.float32, np.float64) else features.astype(np.float64)
        return data_frame(inputs, self._signature.inputs, self._columns, self._categories)

    def predict(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        booster = self.native
        features = self.features(inputs)
        with _PREDICT_ERRORS:
            prediction = np.asarray(booster.predict(features, num_threads=self._threads), dtype=np.float64)
        if self._classes is None:
            return {self._signature.outputs[0].name: prediction}
        if prediction.ndim == 1:  # binary: the positive class's probability
            prediction = np.column_stack([1.0 - prediction, prediction])
        return self._classes.outputs(prediction)

    def close(self) -> None:
        self._booster = None


def _is_classifier(booster: lightgbm.Booster) -> bool:
    return str(booster.params.get("objective", "")).split(" ")[0] in _CLASSIFIERS


def _columns(booster: lightgbm.Booster) -> list[str] | None:
    """The column names it was fitted on, or ``None`` for a matrix (LightGBM names those ``Column_<i>``)."""
    names = [str(name) for name in booster.feature_name()]
    return None if all(_UNNAMED.fullmatch(name) for name in names) else names


def _categories(booster: lightgbm.Booster, columns: Sequence[str]) -> dict[str, list[Any]]:
    """The categories of each pandas categorical column, in the order LightGBM coded them."""
    indices = booster.params.get("categorical_feature") or []
    kept = booster.pandas_categorical or []
    if not isinstance(indices, list) or len(indices) != len(kept):
        return {}
    return {columns[int(i)]: list(values) for i, values in zip(sorted(indices), kept, strict=True)}


def _signature(
    booster: lightgbm.Booster, columns: list[str] | None, categories: Mapping[str, list[Any]]
) -> Signature:
    """FP64 numbers: LightGBM's split thresholds are doubles, so FP32 could flip a split."""
    if columns is None:
        inputs: tuple[TensorSpec, ...] = (TensorSpec("input", Datatype.FP64, (-1, booster.num_feature())),)
    else:
        datatypes = {
            name: Datatype.BYTES if all(isinstance(v, str) for v in values) else Datatype.INT64
            for name, values in categories.items()
        }
        inputs = column_specs(columns, datatypes, Datatype.FP64)
    if _is_classifier(booster):
        n_classes = booster.num_model_per_iteration()
        return Signature(inputs=inputs, outputs=classifier_outputs(list(range(max(n_classes, 2)))))
    return Signature(inputs=inputs, outputs=(TensorSpec("prediction", Datatype.FP64, _raw_shape(booster)),))


def _raw_shape(booster: lightgbm.Booster) -> tuple[int, ...]:
    """The shape of ``Booster.predict``'s result: one column per class or target."""
    n_outputs = booster.num_model_per_iteration()
    return (-1,) if n_outputs == 1 else (-1, n_outputs)
