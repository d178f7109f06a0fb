"""Protocol-neutral model metadata: what the REST and gRPC front-ends both describe for one model."""

from __future__ import annotations

from dataclasses import dataclass

from modelport.core.tensors import TensorSpec
from modelport.serving.loaded import ModelRoutes

__all__ = ["PLATFORMS", "ModelDescription", "describe_model"]

PLATFORMS = {
    "onnx": "onnxruntime_onnx",
    "sklearn": "sklearn",
    "xgboost": "xgboost",
    "lightgbm": "lightgbm",
}
"""The protocol's ``platform`` per runtime framework (others are reported under their own name)."""


@dataclass(frozen=True, slots=True)
class ModelDescription:
    name: str
    versions: list[str]
    platform: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]


def describe_model(routes: ModelRoutes, ref: str | None) -> ModelDescription:
    """``ref``'s version (or the default one) of a model; ``versions`` lists only that version when
    ``ref`` names one, else every served version."""
    loaded = routes.resolve(ref)
    versions = [str(loaded.version)] if ref else [str(number) for number in sorted(routes.versions)]
    signature = loaded.signature
    return ModelDescription(
        name=loaded.model,
        versions=versions,
        platform=PLATFORMS.get(loaded.framework, loaded.framework),
        inputs=signature.inputs,
        outputs=signature.outputs,
    )
