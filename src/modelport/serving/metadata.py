"""Protocol-neutral model metadata: what the REST and gRPC front-ends both describe for one model."""

from __future__ import annotations

from dataclasses import dataclass

from modelport.core.errors import NotFound, NotReady
from modelport.core.tensors import TensorSpec
from modelport.serving.endpoints import EndpointRoutes
from modelport.serving.loaded import LoadedVersion, ModelRoutes
from modelport.serving.table import RoutingTable

__all__ = [
    "ENDPOINT_PLATFORM",
    "PLATFORMS",
    "ModelDescription",
    "describe",
    "describe_model",
    "is_ready",
    "statistics_versions",
]

PLATFORMS = {
    "onnx": "onnxruntime_onnx",
    "sklearn": "sklearn",
    "xgboost": "xgboost",
    "lightgbm": "lightgbm",
}
"""The protocol's ``platform`` per runtime framework (others are reported under their own name)."""
ENDPOINT_PLATFORM = "modelport_endpoint"


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


def describe_endpoint(endpoint: EndpointRoutes) -> ModelDescription:
    """An endpoint looks like a model whose versions are its variants' versions."""
    signature = endpoint.signature
    return ModelDescription(
        name=endpoint.name,
        versions=[v.version.target for v in endpoint.variants],
        platform=ENDPOINT_PLATFORM,
        inputs=signature.inputs,
        outputs=signature.outputs,
    )


def describe(table: RoutingTable, name: str, ref: str | None) -> ModelDescription:
    """A model's or an endpoint's description (``NotFound`` when neither is served)."""
    endpoint = table.endpoint(name)
    if endpoint is None:
        return describe_model(table.model(name), ref)
    if ref:
        raise NotFound(f"{name!r} is an endpoint; it has no version {ref!r}")
    return describe_endpoint(endpoint)


def is_ready(table: RoutingTable, name: str, ref: str | None) -> bool:
    """Whether ``name`` (and ``ref``) can serve now; ``NotFound`` for a name served nowhere."""
    if table.endpoint(name) is not None:
        return not ref
    routes = table.model(name)
    try:
        routes.resolve(ref)
    except (NotFound, NotReady):
        return False
    return True


def statistics_versions(table: RoutingTable, name: str | None, ref: str | None) -> list[LoadedVersion]:
    """The versions the statistics extension reports on: every served one, or those of one model
    (and version), ordered by target (``NotFound`` for a name served nowhere)."""
    if not name:
        versions = table.loaded_versions()
    elif not ref:
        versions = list(table.model(name).versions.values())
    else:
        versions = [table.resolve(name, ref)]
    return sorted(versions, key=lambda v: v.target)
