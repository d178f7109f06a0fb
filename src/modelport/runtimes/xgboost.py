"""XGBoost boosters in their native formats (``.json``, ``.ubj``)."""

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
from modelport.runtimes.errors import invalid_model_errors, translate_framework_errors

__all__ = ["XGBoostModel", "XGBoostRuntime"]


class XGBoostRuntime:
    framework = "xgboost"

    def load(self, artifact: Path, options: LoadOptions) -> LoadedModel:
        with invalid_model_errors(self.framework, artifact):
            booster = xgboost.Booster(model_file=str(artifact))
            booster.set_param({"nthread": options.threads})
            default = _signature(booster)
        return XGBoostModel(booster, rename_signature(options.signature, default, self.framework))


class XGBoostModel:
    """A booster; ``inplace_predict`` is thread-safe."""

    def __init__(self, booster: xgboost.Booster, signature: Signature) -> None:
        self._booster: xgboost.Booster | None = booster
        self._signature = signature

    @property
    def signature(self) -> Signature:
        return self._signature

    def predict(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        booster = self._booster
        if booster is None:
            raise NotReady("the model is closed")
        features = matrix(inputs, self._signature).astype(np.float32, copy=False)
        with translate_framework_errors("xgboost"):
            prediction = np.asarray(booster.inplace_predict(features), dtype=np.float32)
        return {self._signature.outputs[0].name: prediction}

    def close(self) -> None:
        self._booster = None


def _signature(booster: xgboost.Booster) -> Signature:
    n_features = booster.num_features()
    n_outputs = _n_outputs(json.loads(booster.save_config()))
    shape = (-1,) if n_outputs == 1 else (-1, n_outputs)
    return Signature(
        inputs=(TensorSpec("input", Datatype.FP32, (-1, n_features)),),
        outputs=(TensorSpec("prediction", Datatype.FP32, shape),),
    )


def _n_outputs(config: dict[str, Any]) -> int:
    """Columns of ``inplace_predict``'s result: classes for ``multi:softprob``, else targets."""
    learner = config["learner"]
    params = learner.get("learner_model_param", {})
    if learner["objective"]["name"] == "multi:softprob":
        return int(params.get("num_class", 1))
    return max(1, int(params.get("num_target", 1)))
