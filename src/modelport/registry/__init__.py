"""The durable catalogue: models, immutable versions, movable aliases, version policies, artifacts,
endpoints (named routing configs with a history, sharing the models' namespace), and each name's
payload-log settings (``set_monitor_config``).

    registry = Registry.open("sqlite:///data/modelport.db", LocalArtifactStore(Path("data/artifacts")))
    v = registry.register_version("iris", artifact=Path("model.onnx"), filename="model.onnx",
                                  framework="onnx", signature=sig, aliases=["production"])
    registry.resolve("iris", "production")          # -> ModelVersion
    registry.create_endpoint("iris-ab", EndpointConfig((RouteSpec(Target.parse("iris@production"), 90),
                                                        RouteSpec(Target.parse("iris:2"), 10))))
    registry.update_endpoint("iris-ab", config, expected_revision=1)   # Conflict if it moved on
    registry.snapshot()                              # -> RegistrySnapshot (one transaction)

Returns frozen records (``records.py``), never ORM rows; raises ``modelport.core`` errors only.
"""

from modelport.registry.artifacts import ArtifactStore, LocalArtifactStore, StoredArtifact
from modelport.registry.catalog import REFERENCE_FILENAME, Registry
from modelport.registry.names import check_alias, check_endpoint_name, check_filename, check_model_name
from modelport.registry.policy import PolicyKind, VersionPolicy, live_versions
from modelport.registry.records import (
    Endpoint,
    EndpointChange,
    ModelSnapshot,
    ModelSummary,
    ModelVersion,
    Monitor,
    RegistrySnapshot,
)

__all__ = [
    "REFERENCE_FILENAME",
    "ArtifactStore",
    "Endpoint",
    "EndpointChange",
    "LocalArtifactStore",
    "ModelSnapshot",
    "ModelSummary",
    "ModelVersion",
    "Monitor",
    "PolicyKind",
    "Registry",
    "RegistrySnapshot",
    "StoredArtifact",
    "VersionPolicy",
    "check_alias",
    "check_endpoint_name",
    "check_filename",
    "check_model_name",
    "live_versions",
]
