"""What the catalogue returns: frozen values, never ORM rows, each with a JSON-ready ``to_dict``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from modelport.core import NotFound, Signature
from modelport.core.endpoints import EndpointConfig
from modelport.core.monitor_config import MonitorConfig
from modelport.core.serving_config import ServingConfig
from modelport.registry.policy import VersionPolicy, live_versions

__all__ = [
    "Endpoint",
    "EndpointChange",
    "ModelSnapshot",
    "ModelSummary",
    "ModelVersion",
    "Monitor",
    "RegistrySnapshot",
]


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """One immutable registered version of a model."""

    model: str
    number: int
    framework: str
    digest: str
    """sha256 of the artifact file."""
    filename: str
    size: int
    signature: Signature
    description: str
    tags: Mapping[str, str]
    lineage: Mapping[str, str]
    """Free-form provenance: run id, git commit, training data..."""
    trusted: bool
    """The registrant vouched for a format that runs code when loaded."""
    reference_digest: str | None
    """sha256 of the reference data (a Parquet table of feature columns; a ``.npy`` array for
    versions registered before tables), if one was given."""
    created_at: datetime
    aliases: tuple[str, ...] = ()
    """Aliases pointing at this version when it was read."""

    @property
    def has_reference_data(self) -> bool:
        return self.reference_digest is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.model,
            "version": self.number,
            "framework": self.framework,
            "digest": self.digest,
            "filename": self.filename,
            "size": self.size,
            "signature": self.signature.to_dict(),
            "description": self.description,
            "tags": dict(self.tags),
            "lineage": dict(self.lineage),
            "trusted": self.trusted,
            "has_reference_data": self.has_reference_data,
            "reference_digest": self.reference_digest,
            "created_at": self.created_at.isoformat(),
            "aliases": list(self.aliases),
        }


@dataclass(frozen=True, slots=True)
class ModelSummary:
    name: str
    description: str
    latest_version: int | None
    version_count: int
    aliases: Mapping[str, int]
    """Alias name → version number."""
    policy: VersionPolicy
    created_at: datetime
    updated_at: datetime
    serving: ServingConfig = field(default_factory=ServingConfig)
    """How every served version of this model is batched and queued."""
    served: bool = True
    """False once unloaded (the OIP repository extension): no version of it is served by name."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "latest_version": self.latest_version,
            "version_count": self.version_count,
            "aliases": dict(self.aliases),
            "policy": self.policy.to_dict(),
            "serving": self.serving.to_dict(),
            "served": self.served,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class ModelSnapshot:
    """A model with all its versions, as read in one transaction."""

    summary: ModelSummary
    versions: tuple[ModelVersion, ...]
    """Oldest first."""

    @property
    def name(self) -> str:
        return self.summary.name

    def version(self, number: int) -> ModelVersion:
        for v in self.versions:
            if v.number == number:
                return v
        raise NotFound(f"model {self.name!r} has no version {number}")

    def live_versions(self) -> frozenset[int]:
        """The versions the policy and the aliases keep live (none while the model is unloaded)."""
        if not self.summary.served:
            return frozenset()
        return live_versions([v.number for v in self.versions], self.summary.aliases, self.summary.policy)

    def to_dict(self) -> dict[str, Any]:
        return {**self.summary.to_dict(), "versions": [v.to_dict() for v in self.versions]}


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A named routing config that clients call like a model, at one ``revision``."""

    name: str
    revision: int
    """1 when created, +1 per change: pass it back as ``expected_revision`` to update safely."""
    config: EndpointConfig
    """Targets as written: a ``MODEL@ALIAS`` target follows the alias wherever it moves."""
    description: str
    created_at: datetime
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "revision": self.revision,
            "config": self.config.to_dict(),
            "description": self.description,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class EndpointChange:
    """One revision in an endpoint's history: the config it set, who set it and why."""

    revision: int
    config: EndpointConfig
    actor: str
    summary: str
    changed_at: datetime
    restored_from: int | None = None
    """For a rollback, the earlier revision whose config this one restored."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "config": self.config.to_dict(),
            "actor": self.actor,
            "summary": self.summary,
            "restored_from": self.restored_from,
            "changed_at": self.changed_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class Monitor:
    """The payload-log settings of one model or endpoint; ``actor``/``updated_at`` empty if never set."""

    name: str
    config: MonitorConfig
    actor: str = ""
    updated_at: datetime | None = None

    @property
    def configured(self) -> bool:
        return self.updated_at is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            **self.config.to_dict(),
            "configured": self.configured,
            "actor": self.actor,
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
        }


@dataclass(frozen=True, slots=True)
class RegistrySnapshot:
    """The whole catalogue at one ``revision``, read in one transaction."""

    revision: int
    models: Mapping[str, ModelSnapshot] = field(default_factory=dict)
    endpoints: Mapping[str, Endpoint] = field(default_factory=dict)
    """Endpoint name → endpoint; never shares a name with ``models``."""
    monitors: Mapping[str, MonitorConfig] = field(default_factory=dict)
    """Model or endpoint name → its payload-log settings, for the names that have any."""

    def model(self, name: str) -> ModelSnapshot:
        try:
            return self.models[name]
        except KeyError:
            raise NotFound(f"model {name!r} is not registered") from None

    def endpoint(self, name: str) -> Endpoint:
        try:
            return self.endpoints[name]
        except KeyError:
            raise NotFound(f"endpoint {name!r} does not exist") from None

    def to_dict(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "models": [m.to_dict() for m in self.models.values()],
            "endpoints": [e.to_dict() for e in self.endpoints.values()],
            "monitors": {name: config.to_dict() for name, config in self.monitors.items()},
        }
