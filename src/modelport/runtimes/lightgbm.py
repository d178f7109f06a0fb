"""LightGBM boosters in their text format (``.txt``, ``.lgb``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import lightgbm
import numpy as np

from modelport.core import Datatype, NotReady, Signature, TensorSpec
from modelport.runtimes.arrays import matrix, rename_signature
from modelport.runtimes.base import LoadedModel, LoadOptions
from modelport.runtimes.errors import invalid_model_errors, translate_framework_errors

__all__ = ["LightGBMModel", "LightGBMRuntime"]


class LightGBMRuntime:
    framework = "lightgbm"

    def load(self, artifact: Path, options: LoadOptions) -> LoadedModel:
        with invalid_model_errors(self.framework, artifact):
            booster = lightgbm.Booster(model_file=str(artifact))
            default = _signature(booster)
        return LightGBMModel(booster, rename_signature(options.signature, default, self.framework), options)


class LightGBMModel:
    """A booster; each ``predict`` builds its own predictor over the shared, read-only trees."""

    def __init__(self, booster: lightgbm.Booster, signature: Signature, options: LoadOptions) -> None:
        self._booster: lightgbm.Booster | None = booster
        self._signature = signature
        self._threads = options.threads

    @property
    def signature(self) -> Signature:
        return self._signature

    def predict(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        booster = self._booster
        if booster is None:
            raise NotReady("the model is closed")
        features = matrix(inputs, self._signature)
        if features.dtype not in (np.float32, np.float64):
            features = features.astype(np.float64)
        with translate_framework_errors("lightgbm"):
            prediction = booster.predict(features, num_threads=self._threads)
        return {self._signature.outputs[0].name: np.asarray(prediction, dtype=np.float64)}

    def close(self) -> None:
        self._booster = None


def _signature(booster: lightgbm.Booster) -> Signature:
    """FP64 input: LightGBM's split thresholds are doubles, so FP32 could flip a split."""
    n_classes = booster.num_model_per_iteration()
    shape = (-1,) if n_classes == 1 else (-1, n_classes)
    return Signature(
        inputs=(TensorSpec("input", Datatype.FP64, (-1, booster.num_feature())),),
        outputs=(TensorSpec("prediction", Datatype.FP64, shape),),
    )
